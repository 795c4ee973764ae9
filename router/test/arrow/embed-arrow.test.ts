/**
 * tei-manager's EmbedArrow through the router: Arrow IPC built with apache-arrow, sent by a
 * connect-node gRPC client to a router serving two fake TEI processes (and, to see the rows
 * spread, two in-process test backends that count their calls).
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Embed } from "@tei-fleet/proto/tei/v1";
import { TeiMultiplexer } from "@tei-fleet/proto/tei_multiplexer/v1";
import { Field, makeVector, Schema, Table, tableFromIPC, tableToIPC, Utf8, vectorFromArray } from "apache-arrow";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type FakeTeiProcess, startFakeTei } from "../support/fake-tei.ts";
import { type RouterFixture, route, startRouter } from "../support/router-fixture.ts";
import { startTestBackend, type TestBackend } from "../support/tei-backend.ts";

const MODEL = "BAAI/bge-small-en-v1.5";
const toModel = { routing: { case: "modelId" as const, value: MODEL } };

/** An Arrow IPC stream with one Utf8 column `text` (null entries allowed). */
function textsIpc(texts: (string | null)[], name = "text"): Uint8Array {
  return tableToIPC(new Table({ [name]: vectorFromArray(texts, new Utf8()) }), "stream");
}

/** The response's rows: each embedding (or null) and error (or null). */
function rowsOf(ipc: Uint8Array): { embedding: number[] | null; error: string | null }[] {
  const t = tableFromIPC(ipc);
  expect(t.schema.fields.map((f) => f.name)).toEqual(["embeddings", "error"]);
  expect(String(t.schema.fields[0]?.type)).toMatch(/^FixedSizeList\[\d+\]<Float32>$/);
  expect(String(t.schema.fields[1]?.type)).toBe("Utf8");
  const emb = t.getChild("embeddings");
  const err = t.getChild("error");
  const out: { embedding: number[] | null; error: string | null }[] = [];
  for (let i = 0; i < t.numRows; i++) {
    const e = emb?.get(i) as { toArray(): Float32Array } | null;
    out.push({ embedding: e === null || e === undefined ? null : [...e.toArray()], error: (err?.get(i) as string | null) ?? null });
  }
  return out;
}

describe("EmbedArrow over two fake TEI processes", () => {
  const teis: FakeTeiProcess[] = [];
  let fx: RouterFixture;
  let mux: ReturnType<typeof createClient<typeof TeiMultiplexer>>;
  let direct: ReturnType<typeof createClient<typeof Embed>>;

  beforeAll(async () => {
    teis.push(...(await Promise.all([startFakeTei(MODEL), startFakeTei(MODEL)])));
    fx = await startRouter(teis.map((t, i) => route(`bge-${i}`, t.address, { node: `node-${i}` })));
    mux = fx.client(TeiMultiplexer);
    direct = createClient(Embed, createGrpcTransport({ baseUrl: `http://${teis[0]?.address}` }));
  }, 60_000);
  afterAll(async () => {
    await fx?.close();
    await Promise.all(teis.map((t) => t.kill()));
  });

  test("100 rows come back in order, each the vector TEI's own Embed gives", async () => {
    const texts = Array.from({ length: 100 }, (_, i) => `row ${i}: the quick brown fox ${i * 7} jumps`);
    const res = await mux.embedArrow({ target: toModel, arrowIpc: textsIpc(texts), truncate: false, normalize: true });
    const rows = rowsOf(res.arrowIpc);
    expect(rows).toHaveLength(100);
    const want = await Promise.all(texts.map((t) => direct.embed({ inputs: t, truncate: false, normalize: true })));
    for (let i = 0; i < 100; i++) {
      expect(rows[i]?.error).toBeNull();
      expect(rows[i]?.embedding).toEqual([...new Float32Array(want[i]?.embeddings ?? [])]);
    }
    expect(rows[0]?.embedding).toHaveLength(384);
  });

  test("a too-long row gets its own error, a null row too, and the other rows are served", async () => {
    const long = Array.from({ length: 3000 }, (_, i) => `word${i}`).join(" ");
    const directErr = await direct.embed({ inputs: long, truncate: false }).then(
      () => null,
      (e: unknown) => ConnectError.from(e),
    );
    expect(directErr).not.toBeNull();
    const texts = ["first", long, "third", null, "fifth"];
    const res = await mux.embedArrow({ target: toModel, arrowIpc: textsIpc(texts), truncate: false });
    const rows = rowsOf(res.arrowIpc);
    expect(rows).toHaveLength(5);
    expect(rows[1]?.embedding).toBeNull();
    expect(rows[1]?.error).toBe(directErr?.rawMessage);
    expect(rows[3]).toEqual({ embedding: null, error: "input text is null" });
    for (const i of [0, 2, 4]) {
      expect(rows[i]?.error).toBeNull();
      // The request's normalize (a plain bool) was false: TEI is asked for raw vectors.
      const want = await direct.embed({ inputs: texts[i] as string, truncate: false, normalize: false });
      expect(rows[i]?.embedding).toEqual([...new Float32Array(want.embeddings)]);
    }
  });

  test("with truncate the long row is embedded", async () => {
    const long = Array.from({ length: 3000 }, (_, i) => `word${i}`).join(" ");
    const rows = rowsOf((await mux.embedArrow({ target: toModel, arrowIpc: textsIpc([long]), truncate: true })).arrowIpc);
    expect(rows[0]?.error).toBeNull();
    expect(rows[0]?.embedding).toHaveLength(384);
  });

  test("an empty batch answers an empty batch", async () => {
    const rows = rowsOf((await mux.embedArrow({ target: toModel, arrowIpc: textsIpc([]) })).arrowIpc);
    expect(rows).toEqual([]);
  });

  const invalid = async (arrowIpc: Uint8Array): Promise<ConnectError> => {
    const err = await mux.embedArrow({ target: toModel, arrowIpc }).then(
      () => null,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.InvalidArgument);
    return err as ConnectError;
  };

  test("malformed Arrow IPC is INVALID_ARGUMENT naming the problem, and the router still serves", async () => {
    expect((await invalid(new TextEncoder().encode("this is not an arrow stream at all"))).rawMessage).toMatch(/^invalid Arrow IPC: /);
    const good = textsIpc(["a", "b", "c"]);
    expect((await invalid(good.subarray(0, 40))).rawMessage).toMatch(/^invalid Arrow IPC: /);
    expect((await invalid(new Uint8Array())).rawMessage).toContain("arrow_ipc is empty");
    const rows = rowsOf((await mux.embedArrow({ target: toModel, arrowIpc: textsIpc(["still here"]) })).arrowIpc);
    expect(rows[0]?.error).toBeNull();
    const plain = await fx.client(Embed).embed({ inputs: "plain" }, { headers: { "x-tei-model": MODEL } });
    expect(plain.embeddings).toHaveLength(384);
  });

  test("a first column that is not text, or no column, is INVALID_ARGUMENT", async () => {
    const ints = tableToIPC(new Table({ n: makeVector(new Int32Array([1, 2])) }), "stream");
    expect((await invalid(ints)).rawMessage).toBe('the first column "n" is Int32, not a string array (Utf8)');
    const noColumns = tableToIPC(new Table(new Schema([])), "stream");
    expect((await invalid(noColumns)).rawMessage).toContain("column");
    // The first column decides, whatever its name; later columns are ignored.
    const two = tableToIPC(new Table({ body: vectorFromArray(["x"], new Utf8()), id: makeVector(new Int32Array([7])) }), "stream");
    expect(rowsOf((await mux.embedArrow({ target: toModel, arrowIpc: two })).arrowIpc)[0]?.error).toBeNull();
    expect(new Field("x", new Utf8()).name).toBe("x");
  });

  test("target errors are the router's usual ones", async () => {
    const err = await mux.embedArrow({ arrowIpc: textsIpc(["x"]) }).then(
      () => null,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.InvalidArgument);
    expect(err?.rawMessage).toContain("missing target");
    const unknown = await mux.embedArrow({ target: { routing: { case: "modelId", value: "nope/none" } }, arrowIpc: textsIpc(["x"]) }).then(
      () => null,
      (e: unknown) => ConnectError.from(e),
    );
    expect(unknown?.code).toBe(Code.NotFound);
  });
});

describe("EmbedArrow spreads its rows over the model's ready replicas", () => {
  test("every record batch of the stream is read, in order", async () => {
    const t = new Table({ text: vectorFromArray(["one", "two"], new Utf8()) }).concat(new Table({ text: vectorFromArray(["three"], new Utf8()) }));
    expect(t.batches).toHaveLength(2);
    const rows = rowsOf((await fx.client(TeiMultiplexer).embedArrow({ target: toModel, arrowIpc: tableToIPC(t, "stream") })).arrowIpc);
    const embed = fx.client(Embed);
    const want = await Promise.all(["one", "two", "three"].map((x) => embed.embed({ inputs: x }, { headers: { "x-tei-model": MODEL } })));
    expect(rows.map((r) => r.embedding)).toEqual(want.map((w) => [...new Float32Array(w.embeddings)]));
  });

  const backends: TestBackend[] = [];
  let fx: RouterFixture;

  beforeAll(async () => {
    backends.push(await startTestBackend("a"), await startTestBackend("b"));
    fx = await startRouter(backends.map((b) => route(b.name, b.address)));
  });
  afterAll(async () => {
    await fx?.close();
    await Promise.all(backends.map((b) => b.close()));
  });

  test("100 rows over 2 replicas: both serve, answers in order; a refused row is its own error", async () => {
    const texts = Array.from({ length: 100 }, (_, i) => (i === 42 ? "" : `text ${i}`));
    const before = backends.map((x) => x.calls.get("Embed") ?? 0);
    const res = await fx.client(TeiMultiplexer).embedArrow({ target: toModel, arrowIpc: textsIpc(texts) });
    const rows = rowsOf(res.arrowIpc);
    expect(rows).toHaveLength(100);
    const a = (backends[0]?.calls.get("Embed") ?? 0) - (before[0] as number);
    const b = (backends[1]?.calls.get("Embed") ?? 0) - (before[1] as number);
    expect(a + b).toBe(100);
    expect(a).toBeGreaterThanOrEqual(40);
    expect(b).toBeGreaterThanOrEqual(40);
    const embed = fx.client(Embed);
    for (let i = 0; i < 100; i++) {
      if (i === 42) {
        expect(rows[i]).toEqual({ embedding: null, error: "`inputs` cannot be empty" });
        continue;
      }
      const want = await embed.embed({ inputs: texts[i] as string }, { headers: { "x-tei-model": MODEL } });
      expect(rows[i]?.embedding).toEqual([...new Float32Array(want.embeddings)]);
      expect(rows[i]?.error).toBeNull();
    }
  });
});
