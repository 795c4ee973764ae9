import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as S } from "@tei-fleet/proto/grpc/health/v1";
import { Embed, Info, ModelType, Predict, Rerank, Tokenize } from "@tei-fleet/proto/tei/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeTei, spawnFakeTei, startFakeTei } from "./launcher.ts";

/** The gRPC code of a failed call (fails the test if the call succeeds). */
async function codeOf(call: Promise<unknown>): Promise<Code> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err).code;
  }
  throw new Error("call succeeded");
}

const norm = (v: number[]) => Math.hypot(...v);

describe("embedding model (BAAI/bge-small-en-v1.5 on a GPU)", () => {
  let tei: FakeTei;
  beforeAll(async () => {
    tei = await startFakeTei({ env: { CUDA_VISIBLE_DEVICES: "GPU-5f0c1e2a" } });
  });
  afterAll(() => tei?.stop("SIGKILL"));

  it("logs TEI's start-up sequence with the CUDA device", () => {
    const out = tei.stdout();
    expect(out).toContain("Using CUDA_VISIBLE_DEVICES=GPU-5f0c1e2a");
    expect(out).toMatch(/Starting \w+ model on Cuda\(CudaDevice\(DeviceId\(1\)\)\)/);
    expect(out).toContain("Serving Prometheus metrics: 0.0.0.0:9000");
    expect(out).toContain(`Starting gRPC server: 127.0.0.1:${tei.port}`);
    expect(out.indexOf("Warming up model")).toBeLessThan(out.indexOf("Ready"));
  });

  it("reports its configuration over Info", async () => {
    const info = await createClient(Info, tei.transport).info({});
    expect(info).toMatchObject({
      version: "1.9.3",
      modelId: "BAAI/bge-small-en-v1.5",
      modelDtype: "float16",
      modelType: ModelType.EMBEDDING,
      maxConcurrentRequests: 512,
      maxInputLength: 512,
      maxBatchTokens: 16384,
      maxClientBatchSize: 32,
    });
  });

  it("returns deterministic unit-length 384-d embeddings, truncated by dimensions", async () => {
    const embed = createClient(Embed, tei.transport);
    const a = await embed.embed({ inputs: "the quick brown fox" });
    const b = await embed.embed({ inputs: "the quick brown fox" });
    const c = await embed.embed({ inputs: "something else" });
    expect(a.embeddings).toHaveLength(384);
    expect(a.embeddings).toEqual(b.embeddings);
    expect(a.embeddings).not.toEqual(c.embeddings);
    expect(norm(a.embeddings)).toBeCloseTo(1, 5);
    const raw = await embed.embed({ inputs: "the quick brown fox", normalize: false });
    expect(norm(raw.embeddings)).toBeGreaterThan(2);
    const small = await embed.embed({ inputs: "the quick brown fox", dimensions: 64 });
    expect(small.embeddings).toHaveLength(64);
    expect(norm(small.embeddings)).toBeCloseTo(1, 5);
    expect(await codeOf(embed.embed({ inputs: "x", dimensions: 0 }))).toBe(Code.InvalidArgument);
    expect(await codeOf(embed.embed({ inputs: "x", dimensions: 385 }))).toBe(Code.InvalidArgument);
  });

  it("sends TEI's x-compute-* headers and Metadata", async () => {
    let headers: Headers | undefined;
    const res = await createClient(Embed, tei.transport).embed({ inputs: "hello" }, { onHeader: (h) => (headers = h) });
    expect(headers?.get("x-compute-type")).toBe("gpu+optimized");
    expect(headers?.get("x-compute-tokens")).toBe("7");
    expect(headers?.get("x-compute-characters")).toBe("5");
    for (const h of ["x-compute-time", "x-total-time", "x-tokenization-time", "x-queue-time", "x-inference-time"]) {
      expect(headers?.get(h)).toMatch(/^\d+$/);
    }
    expect(res.metadata).toMatchObject({ computeChars: 5, computeTokens: 7 });
  });

  it("maps bad input and wrong RPCs to TEI's status codes", async () => {
    const embed = createClient(Embed, tei.transport);
    expect(await codeOf(embed.embed({ inputs: "" }))).toBe(Code.InvalidArgument);
    const long = "a".repeat(600);
    const err = ConnectError.from(await embed.embed({ inputs: long }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("`inputs` must have less than 512 tokens. Given: 602");
    expect((await embed.embed({ inputs: long, truncate: true })).metadata?.computeTokens).toBe(512);
    expect(await codeOf(embed.embedSparse({ inputs: "x" }))).toBe(Code.FailedPrecondition);
    expect(await codeOf(createClient(Predict, tei.transport).predict({ inputs: "x" }))).toBe(Code.FailedPrecondition);
    expect(await codeOf(createClient(Rerank, tei.transport).rerank({ query: "q", texts: ["t"] }))).toBe(Code.FailedPrecondition);
  });

  it("answers streams in request order", async () => {
    async function* inputs() {
      for (let i = 0; i < 20; i++) yield { inputs: `text ${i}`, dimensions: i + 1 };
    }
    const sizes: number[] = [];
    for await (const res of createClient(Embed, tei.transport).embedStream(inputs())) sizes.push(res.embeddings.length);
    expect(sizes).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it("round-trips Tokenize and Decode", async () => {
    const tok = createClient(Tokenize, tei.transport);
    const text = "Grüße, 世界 🙂";
    const enc = await tok.tokenize({ inputs: text, addSpecialTokens: true });
    expect(enc.tokens[0]).toMatchObject({ id: 101, special: true });
    expect(enc.tokens.at(-1)).toMatchObject({ id: 102, special: true });
    const ids = enc.tokens.map((t) => t.id);
    expect((await tok.decode({ ids, skipSpecialTokens: true })).text).toBe(text);
  });

  it("reports health per service like tonic-health in TEI", async () => {
    const health = createClient(Health, tei.transport);
    const status = async (service: string) => (await health.check({ service })).status;
    expect(await status("")).toBe(S.SERVING);
    expect(await status("tei.v1.Info")).toBe(S.SERVING);
    expect(await status("tei.v1.Tokenize")).toBe(S.SERVING);
    expect(await status("tei.v1.Embed")).toBe(S.SERVING);
    expect(await status("tei.v1.Predict")).toBe(S.NOT_SERVING);
    expect(await status("tei.v1.Rerank")).toBe(S.NOT_SERVING);
    expect(await codeOf(health.check({ service: "tei.v1.Nope" }))).toBe(Code.NotFound);
  });

  it("serves Prometheus text and /health on the prometheus port", async () => {
    const base = `http://127.0.0.1:${tei.prometheusPort}`;
    expect(await (await fetch(`${base}/health`)).text()).toBe("OK");
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^te_request_count\{method="single"\} \d+$/m);
    expect(text).toContain('te_request_failure{err="validation"}');
    expect(text).toContain("te_request_duration_bucket");
    expect(text).not.toContain("# HELP");
  });

  it("exits 1 when its prometheus port is taken by another instance", async () => {
    const other = spawnFakeTei([
      "--model-id",
      "BAAI/bge-small-en-v1.5",
      "--hostname",
      "127.0.0.1",
      "--port",
      "0",
      "--prometheus-port",
      String(tei.prometheusPort),
    ]);
    expect((await other.exited).code).toBe(1);
    expect(other.stderr()).toMatch(/^Error: failed to build prometheus recorder\n\nCaused by:\n.*Address already in use/);
  });

  it("exits 0 after SIGTERM, logging TEI's shutdown line", async () => {
    const exit = await tei.stop("SIGTERM");
    expect(exit).toEqual({ code: 0, signal: null });
    expect(tei.stdout()).toContain("signal received, starting graceful shutdown");
  });
});

describe("model catalogue", () => {
  const models = [
    "BAAI/bge-large-en-v1.5",
    "sentence-transformers/all-mpnet-base-v2",
    "naver/splade-cocondenser-ensembledistil",
    "SamLowe/roberta-base-go_emotions",
  ];
  const teis = new Map<string, FakeTei>();
  beforeAll(async () => {
    // Started together: start-up is mostly waiting, and the suite must stay fast on 2 cores.
    const started = await Promise.allSettled(models.map((modelId) => startFakeTei({ modelId })));
    for (const [i, r] of started.entries()) if (r.status === "fulfilled") teis.set(models[i] as string, r.value);
    for (const r of started) if (r.status === "rejected") throw r.reason;
  });
  afterAll(() => Promise.all([...teis.values()].map((t) => t.stop("SIGKILL"))));
  const get = (modelId: string) => teis.get(modelId) as FakeTei;

  it.each([
    ["BAAI/bge-large-en-v1.5", 1024],
    ["sentence-transformers/all-mpnet-base-v2", 768],
  ])("%s embeds with its own dimension on the CPU", async (modelId, dim) => {
    const tei = get(modelId);
    expect(tei.stdout()).toMatch(/Starting \w+ model on Cpu/);
    const info = await createClient(Info, tei.transport).info({});
    expect([info.modelType, info.modelDtype]).toEqual([ModelType.EMBEDDING, "float32"]);
    expect((await createClient(Embed, tei.transport).embed({ inputs: "x" })).embeddings).toHaveLength(dim);
  });

  it("serves SPLADE as sparse embeddings only", async () => {
    const embed = createClient(Embed, get("naver/splade-cocondenser-ensembledistil").transport);
    const sparse = await embed.embedSparse({ inputs: "sparse retrieval" });
    expect(sparse.sparseEmbeddings.length).toBeGreaterThan(5);
    expect(sparse.sparseEmbeddings.every((v) => v.value > 0 && v.index < 30522)).toBe(true);
    expect((await embed.embedSparse({ inputs: "sparse retrieval" })).sparseEmbeddings).toEqual(sparse.sparseEmbeddings);
    expect(await codeOf(embed.embed({ inputs: "x" }))).toBe(Code.FailedPrecondition);
    expect(await codeOf(embed.embedAll({ inputs: "x" }))).toBe(Code.FailedPrecondition);
  });

  it("classifies with the 28 go_emotions labels, softmax-sorted", async () => {
    const tei = get("SamLowe/roberta-base-go_emotions");
    const res = await createClient(Predict, tei.transport).predict({ inputs: "I love this" });
    expect(res.predictions).toHaveLength(28);
    const scores = res.predictions.map((p) => p.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect((await createClient(Info, tei.transport).info({})).modelType).toBe(ModelType.CLASSIFIER);
    expect(await codeOf(createClient(Embed, tei.transport).embed({ inputs: "x" }))).toBe(Code.FailedPrecondition);
  });
});

describe("reranker behind --api-key", () => {
  let tei: FakeTei;
  beforeAll(async () => {
    tei = await startFakeTei({ modelId: "BAAI/bge-reranker-base", args: ["--api-key", "s3cret"] });
  });
  afterAll(() => tei?.stop("SIGKILL"));
  const auth = { headers: { authorization: "Bearer s3cret" } };

  it("rejects tei.v1 calls without the bearer token but leaves health open", async () => {
    const rerank = createClient(Rerank, tei.transport);
    expect(await codeOf(rerank.rerank({ query: "q", texts: ["t"] }))).toBe(Code.Unauthenticated);
    expect(await codeOf(createClient(Info, tei.transport).info({}, { headers: { authorization: "Bearer nope" } }))).toBe(Code.Unauthenticated);
    const health = createClient(Health, tei.transport);
    expect((await health.check({ service: "tei.v1.Rerank" })).status).toBe(S.SERVING);
    expect((await health.check({ service: "tei.v1.Predict" })).status).toBe(S.SERVING);
    expect((await health.check({ service: "tei.v1.Embed" })).status).toBe(S.NOT_SERVING);
  });

  it("ranks texts by relevance with their original index", async () => {
    const texts = ["bananas are yellow", "the capital of France is Paris", "cars have wheels"];
    const res = await createClient(Rerank, tei.transport).rerank({ query: "what is the capital of France", texts, returnText: true }, auth);
    expect(res.ranks[0]).toMatchObject({ index: 1, text: texts[1] });
    const scores = res.ranks.map((r) => r.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(res.ranks.map((r) => r.index).sort()).toEqual([0, 1, 2]);
  });

  it("refuses more texts than --max-client-batch-size", async () => {
    const texts = Array.from({ length: 33 }, (_, i) => `t${i}`);
    expect(await codeOf(createClient(Rerank, tei.transport).rerank({ query: "q", texts }, auth))).toBe(Code.InvalidArgument);
    expect(await codeOf(createClient(Predict, tei.transport).predictPair({ inputs: ["a", "b", "c"] }, auth))).toBe(Code.InvalidArgument);
  });
});
