import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Embed, Info, Predict, Rerank, Tokenize, TruncationDirection } from "@tei-fleet/proto/tei/v1";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type FakeTeiProcess, startFakeTei } from "../support/fake-tei.ts";
import { type GatewayFixture, post, route, startGateway } from "./gateway-fixture.ts";

// One fake TEI per model type; the gateway's answer to each TEI route is compared field by field
// with the direct gRPC answer of the same fake TEI.
const MODELS = {
  embed: "BAAI/bge-small-en-v1.5",
  sparse: "naver/splade-cocondenser-ensembledistil",
  rerank: "BAAI/bge-reranker-base",
  classify: "SamLowe/roberta-base-go_emotions",
} as const;
type Inst = keyof typeof MODELS;

const teis = new Map<Inst, FakeTeiProcess>();
let fx: GatewayFixture;
const direct = <S extends Parameters<typeof createClient>[0]>(inst: Inst, service: S) =>
  createClient(service, createGrpcTransport({ baseUrl: `http://${teis.get(inst)?.address}` }));
let embed: Client<typeof Embed>;
const at = (inst: Inst, path: string) => `${fx.http}/i/${inst}${path}`;

beforeAll(async () => {
  const started = await Promise.all((Object.keys(MODELS) as Inst[]).map(async (k) => [k, await startFakeTei(MODELS[k])] as const));
  for (const [k, t] of started) teis.set(k, t);
  // The embedding model's spec sets --pooling cls (its route says so); the sparse one leaves it to TEI.
  fx = await startGateway(
    started.map(([k, t]) => route(k, t.address, { modelId: MODELS[k], node: `node-${k}`, ...(k === "embed" ? { pooling: "cls" } : {}) })),
  );
  embed = direct("embed", Embed);
}, 60_000);
afterAll(async () => {
  await fx?.close();
  await Promise.all([...teis.values()].map((t) => t.kill()));
});

describe("TEI's HTTP routes through the gateway answer what TEI's gRPC API answers", () => {
  test("/embed: nested vectors equal to Embed's, normalize and dimensions honoured, timing and served-by headers", async () => {
    const r = await post(at("embed", "/embed"), { inputs: ["hello", "world"] });
    expect(r.status).toBe(200);
    const want = await Promise.all(["hello", "world"].map((inputs) => embed.embed({ inputs, truncate: true, normalize: true })));
    expect(r.body).toEqual(want.map((w) => w.embeddings));
    expect(r.headers.get("x-compute-tokens")).toBe(String(want.reduce((n, w) => n + (w.metadata?.computeTokens ?? 0), 0)));
    expect(r.headers.get("x-compute-characters")).toBe("10");
    expect(r.headers.get("x-compute-type")).toBe("gpu+optimized");
    for (const h of ["x-compute-time", "x-total-time", "x-queue-time", "x-inference-time", "x-tokenization-time"]) expect(r.headers.get(h)).toMatch(/^\d+$/);
    expect(r.headers.get("x-tei-instance")).toBe("embed");
    expect(r.headers.get("x-tei-node")).toBe("node-embed");

    const raw = await post(at("embed", "/embed"), { inputs: "hello", normalize: false, dimensions: 8, truncation_direction: "Left" });
    const w = await embed.embed({ inputs: "hello", truncate: true, normalize: false, dimensions: 8, truncationDirection: TruncationDirection.LEFT });
    expect(raw.body).toEqual([w.embeddings]);
    expect(raw.body[0]).toHaveLength(8);
  });

  test("/embed truncates long inputs by default (TEI's HTTP auto-truncate), refuses them with truncate: false", async () => {
    const long = "x".repeat(600);
    const ok = await post(at("embed", "/embed"), { inputs: long });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-compute-tokens")).toBe("512");
    const refused = await post(at("embed", "/embed"), { inputs: long, truncate: false });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ error_type: "Validation" });
    expect(refused.body.error).toMatch(/must have less than 512 tokens/);
  });

  test("/embed_sparse and /embed_all match EmbedSparse and EmbedAll", async () => {
    const sparse = await post(at("sparse", "/embed_sparse"), { inputs: ["alpha"] });
    const ws = await direct("sparse", Embed).embedSparse({ inputs: "alpha", truncate: true });
    expect(sparse.status).toBe(200);
    expect(sparse.body).toEqual([ws.sparseEmbeddings.map((s) => ({ index: s.index, value: s.value }))]);
    const all = await post(at("embed", "/embed_all"), { inputs: "abc" });
    const wa = await embed.embedAll({ inputs: "abc", truncate: true });
    expect(all.body).toEqual([wa.tokenEmbeddings.map((t) => t.embeddings)]);
  });

  test("/predict: a text, a pair and a batch, sorted by score", async () => {
    const predict = direct("classify", Predict);
    const sorted = (ps: { score: number; label: string }[]) => ps.map((p) => ({ score: p.score, label: p.label })).sort((a, b) => b.score - a.score);
    const one = await post(at("classify", "/predict"), { inputs: "I love it" });
    expect(one.status).toBe(200);
    expect(one.body).toEqual(sorted((await predict.predict({ inputs: "I love it", truncate: true })).predictions));
    const pair = await post(at("classify", "/predict"), { inputs: ["a", "b"] });
    expect(pair.body).toEqual(sorted((await predict.predictPair({ inputs: ["a", "b"], truncate: true })).predictions));
    const batch = await post(at("classify", "/predict"), { inputs: [["x"], ["y", "z"], "w"], raw_scores: true });
    expect(batch.body).toEqual([
      sorted((await predict.predict({ inputs: "x", truncate: true, rawScores: true })).predictions),
      sorted((await predict.predictPair({ inputs: ["y", "z"], truncate: true, rawScores: true })).predictions),
      sorted((await predict.predict({ inputs: "w", truncate: true, rawScores: true })).predictions),
    ]);
  });

  test("/rerank: every text by score with its index, text on return_text", async () => {
    const texts = ["Paris is in France", "bananas", "the capital of France"];
    const r = await post(at("rerank", "/rerank"), { query: "France", texts, return_text: true });
    expect(r.status).toBe(200);
    const w = await direct("rerank", Rerank).rerank({ query: "France", texts, truncate: true, returnText: true });
    expect(r.body).toEqual(w.ranks.map((k) => ({ index: k.index, text: k.text, score: k.score })).sort((a, b) => b.score - a.score));
    const plain = await post(at("rerank", "/rerank"), { query: "France", texts });
    expect(plain.body.every((x: object) => !("text" in x))).toBe(true);
  });

  test("/tokenize and /decode set TEI's HTTP defaults (special tokens added and skipped)", async () => {
    const tok = direct("embed", Tokenize);
    const t = await post(at("embed", "/tokenize"), { inputs: ["hi", "yo"] });
    const w = await tok.tokenize({ inputs: "hi", addSpecialTokens: true });
    expect(t.body[0]).toEqual(w.tokens.map((k) => ({ id: k.id, text: k.text, special: k.special, start: k.start ?? null, stop: k.stop ?? null })));
    expect(t.body[0][0]).toMatchObject({ special: true, start: null, stop: null });
    const ids = t.body[0].map((k: { id: number }) => k.id);
    const d = await post(at("embed", "/decode"), { ids });
    expect(d.body).toEqual([(await tok.decode({ ids, skipSpecialTokens: true })).text]);
    expect(d.body).toEqual(["hi"]);
  });

  test("/similarity: cosines of the source against each sentence", async () => {
    const r = await post(at("embed", "/similarity"), { inputs: { source_sentence: "a cat", sentences: ["a cat", "stock markets"] } });
    expect(r.status).toBe(200);
    expect(r.body[0]).toBeCloseTo(1, 5);
    const [a, b] = await Promise.all(["a cat", "stock markets"].map((inputs) => embed.embed({ inputs, truncate: true })));
    const dot = (a?.embeddings ?? []).reduce((s, x, i) => s + x * (b?.embeddings[i] ?? 0), 0);
    expect(r.body[1]).toBeCloseTo(dot, 5);
  });

  test("/info is Info in TEI's HTTP shape; /health and /metrics answer", async () => {
    const r = await fetch(at("rerank", "/info"));
    const body = await r.json();
    const w = await direct("rerank", Info).info({});
    expect(body).toMatchObject({
      model_id: w.modelId,
      model_dtype: w.modelDtype,
      model_type: { reranker: {} },
      max_concurrent_requests: w.maxConcurrentRequests,
      max_input_length: w.maxInputLength,
      max_batch_tokens: w.maxBatchTokens,
      max_client_batch_size: w.maxClientBatchSize,
      tokenization_workers: w.tokenizationWorkers,
      version: w.version,
      served_model_name: "rerank",
    });
    // gRPC's Info has no pooling: the route's (the spec's --pooling) answers it, null when TEI chose.
    const modelType = async (inst: Inst) => ((await (await fetch(at(inst, "/info"))).json()) as { model_type: unknown }).model_type;
    expect(await modelType("embed")).toEqual({ embedding: { pooling: "cls" } });
    expect(await modelType("sparse")).toEqual({ embedding: { pooling: null } });
    expect((await fetch(`${fx.http}/health`)).status).toBe(200);
    expect((await fetch(at("embed", "/health"))).status).toBe(200);
    const missing = await fetch(`${fx.http}/i/nope/health`);
    expect(missing.status).toBe(503);
    expect(await missing.json()).toEqual({ error: "unhealthy", error_type: "Unhealthy" });
    const metrics = await (await fetch(`${fx.http}/metrics`)).text();
    expect(metrics).toMatch(/tei_gateway_requests_total\{route="\/embed",model="embed",status="200"\} \d+/);
    expect(metrics).toContain("tei_router_");
  });

  test("the model is chosen by the x-tei-model and x-tei-instance headers, a /m/ prefix or the model field", async () => {
    const want = (await embed.embed({ inputs: "hi", truncate: true })).embeddings;
    const byHeader = await post(`${fx.http}/embed`, { inputs: "hi" }, { "x-tei-model": MODELS.embed });
    const byInstance = await post(`${fx.http}/embed`, { inputs: "hi" }, { "x-tei-instance": "embed" });
    const byPrefix = await post(`${fx.http}/m/${MODELS.embed}/embed`, { inputs: "hi" });
    const byEncodedPrefix = await post(`${fx.http}/m/${encodeURIComponent(MODELS.embed)}/embed`, { inputs: "hi" });
    const byField = await post(`${fx.http}/embed`, { inputs: "hi", model: MODELS.embed });
    for (const r of [byHeader, byInstance, byPrefix, byEncodedPrefix, byField]) expect(r.body).toEqual([want]);
    const none = await post(`${fx.http}/embed`, { inputs: "hi" });
    expect(none.status).toBe(400);
    expect(none.body.error).toMatch(/model: required/);
  });

  test("GET /v1/models lists every served model; /v1/models/{id} answers one or 404", async () => {
    const list = (await (await fetch(`${fx.http}/v1/models`)).json()) as { object: string; data: { id: string }[] };
    expect(list.object).toBe("list");
    expect(list.data.map((m) => m.id)).toEqual(Object.values(MODELS).sort());
    const one = await fetch(`${fx.http}/v1/models/${MODELS.embed}`);
    expect(await one.json()).toEqual({ id: MODELS.embed, object: "model", created: 0, owned_by: "tei-fleet" });
    const none = await fetch(`${fx.http}/v1/models/nope`);
    expect(none.status).toBe(404);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe("model_not_found");
  });

  test("POST / and /invocations go to the route of the model's type (embed, predict, rerank)", async () => {
    const e = await post(at("embed", "/invocations"), { inputs: "hi" });
    expect(e.body).toEqual((await post(at("embed", "/embed"), { inputs: "hi" })).body);
    const p = await post(`${fx.http}/`, { inputs: "I love it" }, { "x-tei-instance": "classify" });
    expect(p.body).toEqual((await post(at("classify", "/predict"), { inputs: "I love it" })).body);
    const r = await post(at("rerank", "/invocations"), { query: "q", texts: ["a", "q b"] });
    expect(r.body).toEqual((await post(at("rerank", "/rerank"), { query: "q", texts: ["a", "q b"] })).body);
  });

  test("POST /vertex answers each instance as the model type's route would, in order", async () => {
    const r = await post(at("embed", "/vertex"), { instances: [{ inputs: "hi" }, { inputs: ["a", "b"], normalize: false }] });
    expect(r.status).toBe(200);
    const one = await post(at("embed", "/embed"), { inputs: "hi" });
    const two = await post(at("embed", "/embed"), { inputs: ["a", "b"], normalize: false });
    expect(r.body).toEqual({ predictions: [one.body, two.body] });
    const bad = await post(at("embed", "/vertex"), { instances: [{ inputs: "ok" }, { inputs: "" }] });
    expect(bad.status).toBe(400);
    expect(bad.body.error_type).toBe("Empty");
  });

  test("seed 003's POST /embed {model, texts, options} is answered with embeddings and usage", async () => {
    const r = await post(`${fx.http}/embed`, { model: MODELS.embed, texts: ["Hello, world!", "Another"], options: { normalize: false } });
    expect(r.status).toBe(200);
    const w = await embed.embed({ inputs: "Hello, world!", truncate: true, normalize: false });
    expect(r.body.model).toBe(MODELS.embed);
    expect(r.body.dimensions).toBe(384);
    expect(r.body.embeddings[0]).toEqual(w.embeddings);
    expect(r.body.usage.prompt_tokens).toBeGreaterThan(0);
  });

  test("a traceparent is accepted (and passed to TEI as metadata)", async () => {
    const r = await post(at("embed", "/embed"), { inputs: "hi" }, { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" });
    expect(r.status).toBe(200);
  });
});
