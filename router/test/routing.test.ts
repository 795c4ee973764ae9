import { Code, ConnectError } from "@connectrpc/connect";
import { Embed, Info } from "@tei-fleet/proto/tei/v1";
import { TeiMultiplexer } from "@tei-fleet/proto/tei_multiplexer/v1";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type RouterFixture, route, startRouter } from "./support/router-fixture.ts";
import { startTestBackend, type TestBackend } from "./support/tei-backend.ts";

const BGE = "BAAI/bge-small-en-v1.5";
const MPNET = "sentence-transformers/all-mpnet-base-v2";
let a: TestBackend;
let b: TestBackend;
let c: TestBackend;
let fx: RouterFixture;

beforeAll(async () => {
  [a, b, c] = await Promise.all([startTestBackend("a"), startTestBackend("b"), startTestBackend("c", MPNET)]);
  fx = await startRouter([
    route("bge-1", a.address, { node: "gpu-node-1", modelId: BGE }),
    route("bge-2", b.address, { node: "gpu-node-2", modelId: BGE }),
    route("mpnet", c.address, { node: "gpu-node-1", modelId: MPNET }),
  ]);
});
afterAll(async () => {
  await fx?.close();
  await Promise.all([a?.close(), b?.close(), c?.close()]);
});

async function servedBy(headers: Record<string, string>): Promise<{ instance: string | null; node: string | null }> {
  let h: Headers | undefined;
  await fx.client(Embed).embed({ inputs: "x" }, { headers, onHeader: (x) => (h = x) });
  return { instance: h?.get("x-tei-instance") ?? null, node: h?.get("x-tei-node") ?? null };
}

async function codeOf(p: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return ConnectError.from(e).code;
  }
}

describe("routing", () => {
  test("by instance name, with the serving instance and node in the response headers", async () => {
    expect(await servedBy({ "x-tei-instance": "bge-2" })).toEqual({ instance: "bge-2", node: "gpu-node-2" });
    expect(await servedBy({ "x-tei-instance": "mpnet" })).toEqual({ instance: "mpnet", node: "gpu-node-1" });
  });

  test("by model id: round-robin spreads calls evenly over the model's instances on two nodes", async () => {
    const before = { a: a.calls.get("Embed") ?? 0, b: b.calls.get("Embed") ?? 0, c: c.calls.get("Embed") ?? 0 };
    const nodes = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const s = await servedBy({ "x-tei-model": BGE });
      nodes.set(s.node ?? "", (nodes.get(s.node ?? "") ?? 0) + 1);
    }
    expect((a.calls.get("Embed") ?? 0) - before.a).toBe(20);
    expect((b.calls.get("Embed") ?? 0) - before.b).toBe(20);
    expect((c.calls.get("Embed") ?? 0) - before.c).toBe(0);
    expect(Object.fromEntries(nodes)).toEqual({ "gpu-node-1": 20, "gpu-node-2": 20 });
  });

  test("by model id, concurrent calls are spread too", async () => {
    const before = { a: a.calls.get("Embed") ?? 0, b: b.calls.get("Embed") ?? 0 };
    await Promise.all(Array.from({ length: 50 }, () => fx.client(Embed).embed({ inputs: "y" }, { headers: { "x-tei-model": BGE } })));
    expect((a.calls.get("Embed") ?? 0) - before.a).toBe(25);
    expect((b.calls.get("Embed") ?? 0) - before.b).toBe(25);
  });

  test("by index into the ready replicas sorted by instance name (alone or within a model)", async () => {
    expect((await servedBy({ "x-tei-index": "0" })).instance).toBe("bge-1");
    expect((await servedBy({ "x-tei-index": "1" })).instance).toBe("bge-2");
    expect((await servedBy({ "x-tei-index": "2" })).instance).toBe("mpnet");
    expect((await servedBy({ "x-tei-index": "0", "x-tei-model": MPNET })).instance).toBe("mpnet");
    expect(await codeOf(servedBy({ "x-tei-index": "3" }))).toBe(Code.NotFound);
  });

  test("the multiplexer routes by instance_name, model_id and instance_index", async () => {
    const mux = fx.client(TeiMultiplexer);
    let h: Headers | undefined;
    const onHeader = (x: Headers) => (h = x);
    await mux.embed({ target: { routing: { case: "instanceName", value: "mpnet" } }, request: { inputs: "x" } }, { onHeader });
    expect(h?.get("x-tei-instance")).toBe("mpnet");
    await mux.embed({ target: { routing: { case: "instanceIndex", value: 1 } }, request: { inputs: "x" } }, { onHeader });
    expect(h?.get("x-tei-instance")).toBe("bge-2");
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      await mux.embed({ target: { routing: { case: "modelId", value: BGE } }, request: { inputs: "x" } }, { onHeader });
      seen.add(h?.get("x-tei-instance") ?? "");
    }
    expect([...seen].sort()).toEqual(["bge-1", "bge-2"]);
    const info = await mux.info({ target: { routing: { case: "instanceName", value: "mpnet" } } });
    expect(info.modelId).toBe(MPNET);
  });

  test("a stream is pinned to the replica its first message chose", async () => {
    const mux = fx.client(TeiMultiplexer);
    async function* msgs() {
      yield { target: { routing: { case: "modelId" as const, value: BGE } }, request: { inputs: "one" } };
      for (let i = 0; i < 5; i++) yield { request: { inputs: `more ${i}` } };
    }
    const before = { a: a.calls.get("EmbedStream") ?? 0, b: b.calls.get("EmbedStream") ?? 0 };
    let n = 0;
    for await (const r of mux.embedStream(msgs())) {
      expect(r.embeddings).toHaveLength(8);
      n++;
    }
    expect(n).toBe(6);
    const opened = (a.calls.get("EmbedStream") ?? 0) - before.a + (b.calls.get("EmbedStream") ?? 0) - before.b;
    expect(opened).toBe(1);
  });
});

describe("routing errors, as tei-manager's multiplexer reports them", () => {
  test("NOT_FOUND for an unknown instance or model", async () => {
    const err = await fx
      .client(Embed)
      .embed({ inputs: "x" }, { headers: { "x-tei-instance": "nope" } })
      .catch((e) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.NotFound, rawMessage: 'instance "nope" not found' });
    expect(await codeOf(servedBy({ "x-tei-model": "no/such-model" }))).toBe(Code.NotFound);
    const mux = fx.client(TeiMultiplexer);
    expect(await codeOf(mux.embed({ target: { routing: { case: "instanceName", value: "nope" } }, request: { inputs: "x" } }))).toBe(Code.NotFound);
    expect(await codeOf(mux.embed({ target: { routing: { case: "modelId", value: "no/such" } }, request: { inputs: "x" } }))).toBe(Code.NotFound);
  });

  test("INVALID_ARGUMENT for a missing or empty target", async () => {
    expect(await codeOf(fx.client(Embed).embed({ inputs: "x" }))).toBe(Code.InvalidArgument);
    expect(await codeOf(servedBy({ "x-tei-instance": "" }))).toBe(Code.InvalidArgument);
    expect(await codeOf(servedBy({ "x-tei-index": "first" }))).toBe(Code.InvalidArgument);
    const mux = fx.client(TeiMultiplexer);
    expect(await codeOf(mux.embed({ request: { inputs: "x" } }))).toBe(Code.InvalidArgument);
    expect(await codeOf(mux.embed({ target: {}, request: { inputs: "x" } }))).toBe(Code.InvalidArgument);
    expect(await codeOf(mux.embed({ target: { routing: { case: "instanceName", value: "" } }, request: { inputs: "x" } }))).toBe(Code.InvalidArgument);
    expect(await codeOf(mux.embed({ target: { routing: { case: "instanceName", value: "bge-1" } } }))).toBe(Code.InvalidArgument);
    expect(await codeOf(mux.info({}))).toBe(Code.InvalidArgument);
  });

  test("TEI's own statuses pass through unchanged", async () => {
    const err = await fx
      .client(Embed)
      .embed({ inputs: "" }, { headers: { "x-tei-instance": "bge-1" } })
      .catch((e) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.InvalidArgument, rawMessage: "`inputs` cannot be empty" });
  });

  test("the table follows changes: a removed instance becomes NOT_FOUND, an added one routable", async () => {
    await fx.setRoutes([route("bge-1", a.address, { node: "gpu-node-1" }), route("late", c.address, { node: "gpu-node-3", modelId: MPNET })]);
    try {
      expect(await codeOf(servedBy({ "x-tei-instance": "bge-2" }))).toBe(Code.NotFound);
      expect(await servedBy({ "x-tei-instance": "late" })).toEqual({ instance: "late", node: "gpu-node-3" });
      expect(fx.router.table.version).toBe(2n);
    } finally {
      await fx.setRoutes([
        route("bge-1", a.address, { node: "gpu-node-1", modelId: BGE }),
        route("bge-2", b.address, { node: "gpu-node-2", modelId: BGE }),
        route("mpnet", c.address, { node: "gpu-node-1", modelId: MPNET }),
      ]);
    }
  });
});

test("plain Info passes TEI's answer through", async () => {
  const info = await fx.client(Info).info({}, { headers: { "x-tei-instance": "mpnet" } });
  expect(info.modelId).toBe(MPNET);
  expect(info.dockerLabel).toBe("c");
});
