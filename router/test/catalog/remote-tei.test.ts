import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { CatalogAliasSchema, CatalogBackendSchema, RemoteBackendKind } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type FakeTei, startFakeTei } from "../../../test/fake-tei/launcher.ts";
import { freePort } from "../../../test/harness/free-port.ts";
import type { Router, RouterConfigInput } from "../../src/index.ts";
import { type GatewayFixture, post, route, startGateway } from "../gateway/gateway-fixture.ts";
import { startLoggingGateway } from "../support/logging-gateway.ts";
import { OTLP_KIND, OTLP_STATUS, type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "../support/otlp-receiver.ts";

const MODELS = {
  embed: "BAAI/bge-small-en-v1.5",
  sparse: "naver/splade-cocondenser-ensembledistil",
  rerank: "BAAI/bge-reranker-base",
  classify: "SamLowe/roberta-base-go_emotions",
} as const;
type Inst = keyof typeof MODELS;
/** The remote TEIs' max_client_batch_size. */
const LIMIT = 4;
const KEY = "sk-remote-tei-secret-4242";

/** One call the remote received. */
interface Seen {
  method: string;
  inst: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown> | null;
}

/** Inputs of a TEI HTTP body, as TEI counts them against max_client_batch_size. */
function batchOf(path: string, b: Record<string, unknown> | null): number {
  if (b === null) return 0;
  const list = (v: unknown): number => (Array.isArray(v) && v.length > 0 && typeof v[0] !== "number" ? v.length : 1);
  if (path === "/rerank") return Array.isArray(b.texts) ? b.texts.length : 0;
  if (path === "/decode") return Array.isArray(b.ids) && Array.isArray(b.ids[0]) ? b.ids.length : 1;
  if (path === "/predict") return Array.isArray(b.inputs) && Array.isArray(b.inputs[0]) ? b.inputs.length : 1;
  if (path === "/similarity") return ((b.inputs as { sentences?: unknown[] }).sentences?.length ?? 0) + 1;
  return list(b.inputs);
}

/** The TEI-shaped remote: `/<inst>/<route>` forwarded to the second gateway's `/i/<inst>/<route>`. */
async function startRemote(teiFace: string) {
  const seen: Seen[] = [];
  const state: { fault: { status: number; body: string } | null } = { fault: null };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const raw = Buffer.concat(chunks).toString();
      const m = /^\/([^/]+)(\/.*)$/.exec(req.url ?? "") ?? ["", "", "/"];
      const [, inst, path] = m as [string, string, string];
      const body = raw === "" ? null : (JSON.parse(raw) as Record<string, unknown>);
      seen.push({ method: req.method ?? "", inst, path, headers: req.headers, body });
      // TEI's --api-key: 401 with an empty body.
      if (req.headers.authorization !== `Bearer ${KEY}`) return res.writeHead(401).end();
      if (state.fault !== null) return res.writeHead(state.fault.status, { "content-type": "application/json" }).end(state.fault.body);
      const n = batchOf(path, body);
      if (n > LIMIT) {
        res.writeHead(422, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: `batch size ${n} > maximum allowed batch size ${LIMIT}`, error_type: "Validation" }));
      }
      const up = await fetch(`${teiFace}/i/${inst}${path}`, {
        method: req.method,
        headers: req.method === "POST" ? { "content-type": "application/json" } : {},
        body: req.method === "POST" ? raw : undefined,
      });
      const h: Record<string, string> = { "content-type": up.headers.get("content-type") ?? "application/json" };
      for (const [k, v] of up.headers) if (/^x-(compute|total|tokenization|queue|inference)-/.test(k)) h[k] = v;
      res.writeHead(up.status, h).end(await up.text());
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port, seen, state, close: () => new Promise<void>((r) => server.close(() => r())) };
}
type Remote = Awaited<ReturnType<typeof startRemote>>;

/** A router with its gateway and no TEI of its own, logging (info and up) into `lines`. */
function startFleetGateway(config: Partial<RouterConfigInput>, lines: string[]) {
  return startLoggingGateway([], config, lines, "tei-remote-tei-test-");
}

/** Registers `far-<inst>` (kind tei, with the key) for each remote TEI, and the other backends the tests use. */
function register(router: Router, remote: Remote, downPort: number): void {
  for (const inst of Object.keys(MODELS)) {
    router.catalog.putBackend(
      create(CatalogBackendSchema, {
        backend: { name: `far-${inst}`, kind: RemoteBackendKind.TEI, url: `${remote.url}/${inst}`, timeoutMs: 5000 },
        apiKey: KEY,
      }),
    );
  }
  router.catalog.putBackend(
    create(CatalogBackendSchema, { backend: { name: "far-badkey", kind: RemoteBackendKind.TEI, url: `${remote.url}/embed` }, apiKey: "sk-wrong" }),
  );
  router.catalog.putBackend(
    create(CatalogBackendSchema, { backend: { name: "far-down", kind: RemoteBackendKind.TEI, url: `http://127.0.0.1:${downPort}`, timeoutMs: 1000 } }),
  );
  router.catalog.putBackend(
    create(CatalogBackendSchema, {
      backend: { name: "openai-x", kind: RemoteBackendKind.OPENAI, url: `${remote.url}/v1`, upstreamModel: "text-embedding-3-small" },
      apiKey: KEY,
    }),
  );
  router.catalog.putAlias(
    create(CatalogAliasSchema, {
      name: "embed-any",
      targets: [
        { target: { case: "backend", value: "far-down" }, weight: 1 },
        { target: { case: "backend", value: "far-embed" }, weight: 1 },
      ],
    }),
  );
}

const teis = new Map<Inst, FakeTei>();
let face: GatewayFixture;
let remote: Remote;
let fleet: Awaited<ReturnType<typeof startFleetGateway>>;
const lines: string[] = [];
/** Every answer text the fleet's gateway gave in these tests (none may hold the key). */
const answered: string[] = [];
let downPort = 0;

/** A POST to the fleet's gateway, its answer kept. */
async function viaFleet(path: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await post(`${fleet.http}${path}`, body, headers);
  answered.push(r.text, JSON.stringify([...r.headers]));
  return r;
}

/** The remote TEI's own answer (its HTTP API, without the proxy's batch limit). */
const direct = (inst: Inst, path: string, body: unknown) => post(`${face.http}/i/${inst}${path}`, body);

/** The calls the remote received during `f`. */
async function callsDuring(f: () => Promise<unknown>): Promise<Seen[]> {
  const before = remote.seen.length;
  await f();
  return remote.seen.slice(before);
}

beforeAll(async () => {
  const started = await Promise.all(
    (Object.keys(MODELS) as Inst[]).map(
      async (k) => [k, await startFakeTei({ modelId: MODELS[k], args: ["--max-client-batch-size", String(LIMIT)] })] as const,
    ),
  );
  for (const [k, t] of started) teis.set(k, t);
  face = await startGateway(started.map(([k, t]) => route(k, `${t.host}:${t.port}`, { modelId: MODELS[k], node: `node-${k}` })));
  remote = await startRemote(face.http);
  downPort = await freePort();
  fleet = await startFleetGateway({}, lines);
  register(fleet.router, remote, downPort);
}, 90_000);
afterAll(async () => {
  await fleet?.close();
  await remote?.close();
  await face?.close();
  await Promise.all([...teis.values()].map((t) => t.stop()));
});

describe("TEI's routes through a TEI-kind remote answer what the remote answers", () => {
  test("/embed: the body as sent less `model`, the key upstream, the answer and TEI's headers passed back", async () => {
    const body = { inputs: ["hello", "world"], normalize: false, dimensions: 8, truncation_direction: "left" };
    let r!: Awaited<ReturnType<typeof viaFleet>>;
    const calls = await callsDuring(async () => {
      r = await viaFleet("/embed", { model: "far-embed", ...body });
    });
    const want = await direct("embed", "/embed", body);
    expect(r.status).toBe(200);
    expect(r.body).toEqual(want.body);
    expect(r.headers.get("x-tei-backend")).toBe("far-embed");
    for (const h of ["x-compute-type", "x-compute-tokens", "x-compute-characters"]) expect(r.headers.get(h)).toBe(want.headers.get(h));
    for (const h of ["x-compute-time", "x-total-time", "x-queue-time", "x-inference-time", "x-tokenization-time"]) expect(r.headers.get(h)).toMatch(/^\d+$/);
    // (Two inputs: the remote's /info, for its batch size, may be asked first.)
    const embeds = calls.filter((c) => c.path !== "/info");
    expect(embeds).toHaveLength(1);
    expect(embeds[0]).toMatchObject({ method: "POST", inst: "embed", path: "/embed", body });
    expect(embeds[0]?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(embeds[0]?.body).not.toHaveProperty("model");
  });

  test("a batch over the remote's max_client_batch_size (from its /info) is split as the local path does, answered in order", async () => {
    const inputs = Array.from({ length: 10 }, (_, i) => `text number ${i}`);
    let r!: Awaited<ReturnType<typeof viaFleet>>;
    const calls = await callsDuring(async () => {
      r = await viaFleet("/m/far-embed/embed", { inputs });
    });
    const want = await direct("embed", "/embed", { inputs });
    expect(r.status).toBe(200);
    expect(r.body).toEqual(want.body);
    expect(r.headers.get("x-compute-tokens")).toBe(want.headers.get("x-compute-tokens"));
    const embeds = calls.filter((c) => c.path === "/embed");
    expect(embeds.map((c) => (c.body?.inputs as string[] | undefined)?.length)).toEqual([4, 4, 2]);
    expect(embeds.flatMap((c) => c.body?.inputs as string[]).sort()).toEqual([...inputs].sort());
    // The remote's /info was asked once, and is kept: the next split asks nothing.
    expect(calls.filter((c) => c.path === "/info").length).toBeLessThanOrEqual(1);
    const again = await callsDuring(() => viaFleet("/m/far-embed/embed", { inputs }));
    expect(again.filter((c) => c.path === "/info")).toEqual([]);
    const metrics = await (await fetch(`${fleet.http}/metrics`)).text();
    expect(metrics).toMatch(/tei_gateway_batch_chunks_sum\{route="\/embed"\} [1-9]/);
  });

  test("/embed_sparse, /embed_all, /tokenize, /decode and /similarity match the remote's own answers", async () => {
    const cases: [Inst, string, Record<string, unknown>][] = [
      ["sparse", "/embed_sparse", { inputs: ["alpha", "beta"] }],
      ["embed", "/embed_all", { inputs: "abc" }],
      ["embed", "/tokenize", { inputs: ["héllo", "world"], add_special_tokens: false }],
      ["embed", "/decode", { ids: [[1104, 1101], [1119]] }],
      ["embed", "/similarity", { inputs: { source_sentence: "a cat", sentences: ["a dog", "the cat", "x", "y", "z", "a cat"] } }],
      ["embed", "/tokenize", { inputs: Array.from({ length: 6 }, (_, i) => `t${i}`) }],
      ["embed", "/decode", { ids: Array.from({ length: 5 }, (_, i) => [1100 + i]) }],
      ["sparse", "/embed_sparse", { inputs: ["a", "b", "c", "d", "e"] }],
    ];
    for (const [inst, path, body] of cases) {
      const r = await viaFleet(path, { model: `far-${inst}`, ...body });
      const want = await direct(inst, path, body);
      expect({ path, status: r.status }).toEqual({ path, status: 200 });
      expect(r.body).toEqual(want.body);
    }
  });

  test("/predict: a text, a pair, and a batch split into batches", async () => {
    for (const inputs of ["I love it", ["I love it", "really"], [["a"], ["b", "c"], ["d"], ["e"], ["f", "g"], ["h"]]]) {
      const r = await viaFleet("/predict", { model: "far-classify", inputs });
      const want = await direct("classify", "/predict", { inputs });
      expect(r.status).toBe(200);
      expect(r.body).toEqual(want.body);
    }
  });

  test("/rerank in TEI's shape, split by the remote's batch and merged by score", async () => {
    const texts = ["Paris is in France", "Berlin", "The capital of France is Paris", "bananas", "France", "cats"];
    const body = { query: "capital of France", texts, return_text: true };
    const r = await viaFleet("/rerank", { model: "far-rerank", ...body });
    const want = await direct("rerank", "/rerank", body);
    expect(r.status).toBe(200);
    expect(r.body).toEqual(want.body);
    expect(r.headers.get("x-compute-tokens")).toBe(want.headers.get("x-compute-tokens"));
  });

  test("Jina / Cohere v1 and Cohere v2 rerank are translated onto the remote's /rerank", async () => {
    const documents = ["Paris is in France", "Berlin", "The capital of France is Paris", "bananas", "France"];
    const want = await direct("rerank", "/rerank", { query: "capital of France", texts: documents, return_text: true });
    const ranks = want.body as { index: number; score: number; text: string }[];
    const tokens = Number(want.headers.get("x-compute-tokens"));

    const v1 = await viaFleet("/v1/rerank", { model: "far-rerank", query: "capital of France", documents, top_n: 2, return_documents: true });
    expect(v1.status).toBe(200);
    expect(v1.body).toMatchObject({ model: "far-rerank", object: "rerank", usage: { prompt_tokens: tokens, total_tokens: tokens } });
    expect(v1.body.results).toEqual(ranks.slice(0, 2).map((x) => ({ index: x.index, relevance_score: x.score, document: { text: x.text } })));

    const calls = await callsDuring(async () => {
      const v2 = await viaFleet("/v2/rerank", { model: "far-rerank", query: "capital of France", documents: documents.map((text) => ({ text })), top_n: 3 });
      expect(v2.status).toBe(200);
      expect(v2.body.results).toEqual(ranks.slice(0, 3).map((x) => ({ index: x.index, relevance_score: x.score })));
      expect(v2.body.meta).toMatchObject({ api_version: { version: "2" }, tokens: { input_tokens: tokens } });
    });
    // TEI's fields only: the texts in chunks of the remote's batch, no Cohere field, no model.
    const reranks = calls.filter((c) => c.path === "/rerank");
    expect(reranks.map((c) => Object.keys(c.body ?? {}).sort())).toEqual([
      ["query", "return_text", "texts"],
      ["query", "return_text", "texts"],
    ]);
    expect(reranks.map((c) => (c.body?.texts as string[] | undefined)?.length)).toEqual([4, 1]);
  });

  test("OpenAI /v1/embeddings (float and base64) is translated onto the remote's /embed", async () => {
    const input = ["hello", "world", "a", "b", "c"];
    const want = (await direct("embed", "/embed", { inputs: input })).body as number[][];
    const tokens = Number((await direct("embed", "/embed", { inputs: input })).headers.get("x-compute-tokens"));
    const f = await viaFleet("/v1/embeddings", { model: "far-embed", input });
    expect(f.status).toBe(200);
    expect(f.body).toMatchObject({ object: "list", model: "far-embed", usage: { prompt_tokens: tokens, total_tokens: tokens } });
    expect(f.body.data.map((d: { index: number; embedding: number[] }) => [d.index, d.embedding])).toEqual(want.map((v, i) => [i, v]));
    const b = await viaFleet("/m/far-embed/v1/embeddings", { input, encoding_format: "base64" });
    expect(b.status).toBe(200);
    b.body.data.forEach((d: { embedding: string }, i: number) => {
      const bytes = Buffer.from(d.embedding, "base64");
      expect(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4))).toEqual(want[i]);
    });
    // Token arrays are decoded as cl100k ids, as on the local path ("hello" is 15339).
    const ids = await viaFleet("/v1/embeddings", { model: "far-embed", input: [[15339]] });
    expect(ids.body.data[0].embedding).toEqual(want[0]);
  });

  test("GET /info is the remote's own with the fleet's name as served_model_name; /invocations goes by the remote's model type; /vertex is forwarded", async () => {
    const info = await fetch(`${fleet.http}/m/far-embed/info`);
    const got = (await info.json()) as Record<string, unknown>;
    const want = (await (await fetch(`${face.http}/i/embed/info`)).json()) as Record<string, unknown>;
    expect(info.status).toBe(200);
    expect(info.headers.get("x-tei-backend")).toBe("far-embed");
    expect(got).toEqual({ ...want, served_model_name: "far-embed" });
    expect(got).toMatchObject({ model_id: MODELS.embed, max_client_batch_size: LIMIT });
    const byHeader = await fetch(`${fleet.http}/info`, { headers: { "x-tei-model": "far-rerank" } });
    expect(((await byHeader.json()) as { model_id: string }).model_id).toBe(MODELS.rerank);

    const rr = await viaFleet("/invocations", { model: "far-rerank", query: "q", texts: ["a", "q"] });
    expect(rr.body).toEqual((await direct("rerank", "/rerank", { query: "q", texts: ["a", "q"] })).body);
    const pr = await viaFleet("/m/far-classify/invocations", { inputs: "wonderful" });
    expect(pr.body).toEqual((await direct("classify", "/predict", { inputs: "wonderful" })).body);
    const em = await viaFleet("/invocations", { model: "far-embed", inputs: ["x", "y"] });
    expect(em.body).toEqual((await direct("embed", "/embed", { inputs: ["x", "y"] })).body);

    const vertex = { instances: [{ inputs: "a" }, { inputs: ["b", "c"] }] };
    const v = await viaFleet("/m/far-embed/vertex", vertex);
    expect(v.status).toBe(200);
    expect(v.body).toEqual((await direct("embed", "/vertex", vertex)).body);
  });
});

describe("errors through a TEI-kind remote", () => {
  test("TEI's error JSON comes back with its status on TEI's routes, in the family's shape on OpenAI's and Cohere's", async () => {
    const long = "x".repeat(600);
    const r = await viaFleet("/embed", { model: "far-embed", inputs: long, truncate: false });
    const want = await direct("embed", "/embed", { inputs: long, truncate: false });
    expect(want.status).toBe(422);
    expect(r.status).toBe(422);
    expect(r.body).toEqual(want.body);
    const o = await viaFleet("/v1/rerank", { model: "far-embed", query: "q", documents: ["a"] });
    const wantMismatch = await direct("embed", "/rerank", { query: "q", texts: ["a"] });
    expect(wantMismatch.status).toBe(424);
    expect(o.status).toBe(400);
    expect(o.body).toMatchObject({ message: wantMismatch.body.error, error: { message: wantMismatch.body.error, code: "model_type_mismatch" } });
    const t = await viaFleet("/rerank", { model: "far-embed", query: "q", texts: ["a"] });
    expect(t.status).toBe(424);
    expect(t.body).toEqual(wantMismatch.body);
  });

  test("an upstream's overload, an error echoing the key, a 5xx and a refused key", async () => {
    try {
      remote.state.fault = { status: 429, body: JSON.stringify({ error: "Model is overloaded", error_type: "Overloaded" }) };
      const busy = await viaFleet("/embed", { model: "far-embed", inputs: "x" });
      expect(busy.status).toBe(429);
      expect(busy.body).toEqual({ error: "Model is overloaded", error_type: "Overloaded" });
      expect(busy.headers.get("retry-after")).toBe("1");
      remote.state.fault = { status: 422, body: JSON.stringify({ error: `the key ${KEY} may not embed this`, error_type: "Validation" }) };
      const echo = await viaFleet("/v1/embeddings", { model: "far-embed", input: "x" });
      expect(echo.status).toBe(400);
      expect(echo.body.error.message).toBe("the key [redacted] may not embed this");
      remote.state.fault = { status: 503, body: "{}" };
      const down = await viaFleet("/embed", { model: "far-embed", inputs: "x" });
      expect(down.status).toBe(502);
      expect(down.body).toMatchObject({ error_type: "Backend" });
    } finally {
      remote.state.fault = null;
    }
    const bad = await viaFleet("/embed", { model: "far-badkey", inputs: "x" });
    expect(bad.status).toBe(502);
    expect(bad.body.error).toBe('remote backend "far-badkey" refused the fleet\'s credentials (401)');
    const again = await viaFleet("/v2/rerank", { model: "far-badkey", query: "q", documents: ["a"] });
    expect(again.body.error.code).toBe("backend_auth_error");
  });

  test("bad input is refused with the route's status and shape before any call", async () => {
    const cases: [string, Record<string, unknown>, number, unknown][] = [
      ["/embed", { model: "far-embed", inputs: [] }, 400, { error: "inputs: `inputs` cannot be empty", error_type: "Empty" }],
      ["/embed", { model: "far-embed", inputs: 5 }, 422, { error_type: "Validation" }],
      ["/embed", { model: "far-embed", inputs: "x", normalize: "yes" }, 422, { error: "normalize: expected a boolean, got a string" }],
      ["/predict", { model: "far-classify", inputs: [["a", "b", "c"]] }, 422, { error_type: "Validation" }],
      ["/similarity", { model: "far-embed", inputs: { source_sentence: "a" } }, 422, { error_type: "Validation" }],
      ["/decode", { model: "far-embed", ids: [] }, 400, { error_type: "Empty" }],
      [
        "/v1/embeddings",
        { model: "far-embed", input: "x", encoding_format: "hex" },
        400,
        { error: { param: "encoding_format", type: "invalid_request_error" } },
      ],
      ["/v2/rerank", { model: "far-rerank", documents: ["a"] }, 400, { error: { param: "query" } }],
      ["/embed", { model: "far-embed", inputs: "\ud800" }, 422, { error_type: "Validation" }],
    ];
    const calls = await callsDuring(async () => {
      for (const [path, body, status, shape] of cases) {
        const r = await viaFleet(path, body);
        expect({ path, status: r.status }).toEqual({ path, status });
        expect(r.body).toMatchObject(shape as object);
      }
    });
    expect(calls).toEqual([]);
  });

  test("a remote that is down: 502, then ejected; an alias prefers its other target meanwhile", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await viaFleet("/embed", { model: "far-down", inputs: "x" });
      expect(r.status).toBe(502);
      expect(r.body).toEqual({ error: 'remote backend "far-down" could not be reached', error_type: "Backend" });
    }
    expect(fleet.router.catalog.backend("far-down")?.target.health.down()).toBe(true);
    for (let i = 0; i < 4; i++) expect((await viaFleet("/embed", { model: "embed-any", inputs: "x" })).headers.get("x-tei-backend")).toBe("far-embed");
    const log = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(log.find((l) => l.msg === "remote backend ejected")).toMatchObject({ backend: "far-down", url: `http://127.0.0.1:${downPort}` });
  });
});

describe("OpenAI-kind remotes serve embeddings only", () => {
  test("a TEI-only route is refused naming the kind and the route, in the route's shape; /info is synthesized", async () => {
    const calls = await callsDuring(async () => {
      const t = await viaFleet("/tokenize", { model: "openai-x", inputs: "a" });
      expect(t.status).toBe(400);
      expect(t.body.error).toMatch(/remote backend "openai-x" of kind openai .*not \/tokenize/);
      const c = await viaFleet("/v2/rerank", { model: "openai-x", query: "q", documents: ["a"] });
      expect(c.status).toBe(400);
      expect(c.body.error).toMatchObject({ code: "unsupported_for_remote_backend", param: "model" });
      expect(c.body.message).toMatch(/not \/v2\/rerank/);
    });
    expect(calls).toEqual([]);
    const info = await fetch(`${fleet.http}/m/openai-x/info`);
    expect(info.status).toBe(200);
    expect(await info.json()).toEqual({
      model_id: "text-embedding-3-small",
      model_sha: null,
      model_dtype: null,
      model_type: { embedding: { pooling: null } },
      max_client_batch_size: 2048,
      served_model_name: "openai-x",
    });
  });
});

describe("trace context upstream", () => {
  const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
  const CLIENT_SPAN = "00f067aa0ba902b7";

  test("with tracing off the client's traceparent and tracestate go upstream unchanged, none without", async () => {
    const tp = `00-${TRACE_ID}-${CLIENT_SPAN}-01`;
    const withTp = await callsDuring(() => viaFleet("/embed", { model: "far-embed", inputs: "a" }, { traceparent: tp, tracestate: "k=v" }));
    expect(withTp.map((c) => [c.headers.traceparent, c.headers.tracestate])).toEqual([[tp, "k=v"]]);
    const without = await callsDuring(() => viaFleet("/embed", { model: "far-embed", inputs: "a" }));
    expect(without.map((c) => c.headers.traceparent)).toEqual([undefined]);
    const bad = await callsDuring(() => viaFleet("/embed", { model: "far-embed", inputs: "a" }, { traceparent: "garbage" }));
    expect(bad.map((c) => c.headers.traceparent)).toEqual([undefined]);
  });

  describe("with tracing on", () => {
    let receiver: OtlpReceiver;
    const traced: string[] = [];
    const callsOf = new Map<string, Seen[]>();
    const answers = new Map<string, number>();

    beforeAll(async () => {
      receiver = await startOtlpReceiver();
      const gw = await startFleetGateway({ otlpEndpoint: `${receiver.url}/v1/traces` }, traced);
      register(gw.router, remote, downPort);
      const send = async (id: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
        callsOf.set(
          id,
          await callsDuring(async () => {
            const h = { "x-request-id": id, ...headers };
            if (body === null) {
              const r = await fetch(`${gw.http}${path}`, { headers: h });
              answered.push(await r.text());
              answers.set(id, r.status);
              return;
            }
            const r = await post(`${gw.http}${path}`, body, h);
            answered.push(r.text);
            answers.set(id, r.status);
          }),
        );
      };
      try {
        await send("one", "/embed", { model: "far-embed", inputs: "a" }, { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN}-01`, tracestate: "vendor=abc" });
        await send("split", "/v1/embeddings", { model: "far-embed", input: Array.from({ length: 9 }, (_, i) => `s${i}`) });
        await send("refused", "/embed", { model: "far-embed", inputs: "x".repeat(600), truncate: false });
        await send("down", "/embed", { model: "far-down", inputs: "x" });
        await send("info", "/info", null, { "x-tei-model": "far-embed" });
      } finally {
        await gw.close();
      }
    }, 60_000);
    afterAll(async () => {
      await receiver?.close();
    });

    const serverSpan = (id: string): ReceivedSpan => {
      const s = receiver.spans.filter((x) => x.kind === OTLP_KIND.SERVER && x.attributes["tei.request_id"] === id);
      expect(s).toHaveLength(1);
      return s[0] as ReceivedSpan;
    };
    const childrenOf = (s: ReceivedSpan): ReceivedSpan[] => receiver.spans.filter((x) => x.parentSpanId === s.spanId);
    const traceparentOf = (s: ReceivedSpan): string => `00-${s.traceId}-${s.spanId}-01`;

    test("a CLIENT span per upstream call with the HTTP client attributes; the remote gets its traceparent and the client's tracestate", () => {
      expect(answers.get("one")).toBe(200);
      const server = serverSpan("one");
      expect(server).toMatchObject({ traceId: TRACE_ID, parentSpanId: CLIENT_SPAN });
      expect(server.attributes["tei.backend"]).toBe("far-embed");
      const children = childrenOf(server);
      expect(children).toHaveLength(1);
      const call = children[0] as ReceivedSpan;
      expect(call).toMatchObject({ name: "POST /embed", kind: OTLP_KIND.CLIENT, traceId: TRACE_ID });
      expect(call.status.code).toBe(OTLP_STATUS.UNSET);
      expect(call.attributes).toEqual({
        "http.request.method": "POST",
        "url.full": `${remote.url}/embed/embed`,
        "server.address": "127.0.0.1",
        "server.port": remote.port,
        "http.response.status_code": 200,
        "tei.backend": "far-embed",
      });
      expect(callsOf.get("one")?.map((c) => [c.headers.traceparent, c.headers.tracestate])).toEqual([[traceparentOf(call), "vendor=abc"]]);
    });

    test("a split request: one span per chunk, each call carrying its own span; the /info the split needed is no span", () => {
      expect(answers.get("split")).toBe(200);
      const server = serverSpan("split");
      expect(server.attributes).toMatchObject({ "tei.inputs": 9, "tei.chunks": 3 });
      const children = childrenOf(server);
      expect(children.map((c) => c.name)).toEqual(["POST /embed", "POST /embed", "POST /embed"]);
      const embeds = (callsOf.get("split") ?? []).filter((c) => c.path === "/embed");
      expect(embeds.map((c) => c.headers.traceparent).sort()).toEqual(children.map(traceparentOf).sort());
      for (const c of (callsOf.get("split") ?? []).filter((x) => x.path === "/info")) expect(c.headers.traceparent).toBeUndefined();
    });

    test("a refused call and an unreachable backend are error spans; GET /info is traced as a GET", () => {
      expect([answers.get("refused"), answers.get("down"), answers.get("info")]).toEqual([422, 502, 200]);
      const refused = childrenOf(serverSpan("refused"));
      expect(refused).toHaveLength(1);
      expect(refused[0]?.status.code).toBe(OTLP_STATUS.ERROR);
      expect(refused[0]?.attributes).toMatchObject({ "http.response.status_code": 422, "error.type": "422" });
      const down = childrenOf(serverSpan("down"));
      expect(down).toHaveLength(1);
      expect(down[0]?.status.code).toBe(OTLP_STATUS.ERROR);
      expect(down[0]?.attributes["http.response.status_code"]).toBeUndefined();
      expect(down[0]?.attributes["error.type"]).toEqual(expect.stringMatching(/ECONNREFUSED|_OTHER|Error/));
      expect(down[0]?.attributes["server.port"]).toBe(downPort);
      const info = childrenOf(serverSpan("info"));
      expect(info.map((s) => [s.name, s.attributes["http.request.method"], s.attributes["url.full"]])).toEqual([
        ["GET /info", "GET", `${remote.url}/embed/info`],
      ]);
    });

    test("no span, log line or answer holds the upstream key", () => {
      expect(JSON.stringify(receiver.spans)).not.toContain(KEY);
      expect(traced.join("\n")).not.toContain(KEY);
    });
  });
});

test("the upstream key never appears in the fleet's log lines or answers", () => {
  // Every call above carried it (the remote checks it) and one upstream error echoed it.
  expect(remote.seen.some((c) => c.headers.authorization === `Bearer ${KEY}`)).toBe(true);
  expect(lines.length).toBeGreaterThan(0);
  expect(lines.join("\n")).not.toContain(KEY);
  expect(answered.join("\n")).not.toContain(KEY);
  expect(answered.join("\n")).not.toContain("sk-wrong");
});
