import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Embed, Rerank } from "@tei-fleet/proto/tei/v1";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type FakeTei, startFakeTei as startConfiguredTei } from "../../../test/fake-tei/launcher.ts";
import { type FakeTeiProcess, startFakeTei } from "../support/fake-tei.ts";
import { type GatewayFixture, post, route, startGateway } from "./gateway-fixture.ts";

const MODEL = "BAAI/bge-small-en-v1.5";
const RERANKER = "BAAI/bge-reranker-base";

describe("batches wider than a replica takes are split across the replicas and answered in order", () => {
  let teis: FakeTeiProcess[];
  let reranker: FakeTeiProcess;
  let fx: GatewayFixture;

  beforeAll(async () => {
    teis = await Promise.all([0, 1, 2].map(() => startFakeTei(MODEL)));
    reranker = await startFakeTei(RERANKER);
    fx = await startGateway([
      ...teis.map((t, i) => route(`small-${i}`, t.address, { assignmentId: `a${i}`, node: `node-${i}` })),
      route("rr", reranker.address, { modelId: RERANKER }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await fx?.close();
    await Promise.all([...(teis ?? []), reranker].map((t) => t?.kill()));
  });

  test("1,000 inputs over 3 replicas: every vector at its input's position, usage summed", async () => {
    const texts = Array.from({ length: 1000 }, (_, i) => `input number ${i}`);
    const r = await post(`${fx.http}/v1/embeddings`, { model: MODEL, input: texts, encoding_format: "base64" });
    expect(r.status).toBe(200);
    expect(r.body.data).toHaveLength(1000);
    const direct = createClient(Embed, createGrpcTransport({ baseUrl: `http://${teis[0]?.address}` }));
    for (const i of [0, 1, 31, 32, 499, 998, 999]) {
      const item = r.body.data[i];
      expect(item.index).toBe(i);
      const got = new Float32Array(new Uint8Array(Buffer.from(item.embedding, "base64")).buffer);
      const want = (await direct.embed({ inputs: texts[i], truncate: true })).embeddings;
      expect(Array.from(got)).toEqual(want);
    }
    const tokens = texts.reduce((n, t) => n + [...t].length + 2, 0);
    expect(r.body.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
    expect(r.headers.get("x-compute-tokens")).toBe(String(tokens));
    expect(r.headers.get("x-tei-instance")?.split(", ").sort()).toEqual(["small-0", "small-1", "small-2"]);
    const metrics = await (await fetch(`${fx.http}/metrics`)).text();
    expect(metrics).toMatch(/tei_gateway_batch_chunks_sum\{route="\/v1\/embeddings"\} 32/);
  });

  test("a rerank of 100 documents is chunked by max_client_batch_size, re-indexed and merged by score, top_n last", async () => {
    const docs = Array.from({ length: 100 }, (_, i) => `document ${i} about ${i % 3 === 0 ? "France" : "fruit"}`);
    const r = await post(`${fx.http}/v1/rerank`, { model: RERANKER, query: "France", documents: docs, top_n: 5, return_documents: true });
    expect(r.status).toBe(200);
    const direct = createClient(Rerank, createGrpcTransport({ baseUrl: `http://${reranker.address}` }));
    const all: { index: number; score: number }[] = [];
    for (let at = 0; at < 100; at += 32) {
      const w = await direct.rerank({ query: "France", texts: docs.slice(at, at + 32), truncate: true });
      for (const k of w.ranks) all.push({ index: k.index + at, score: k.score });
    }
    all.sort((a, b) => b.score - a.score || a.index - b.index);
    expect(r.body.results).toEqual(all.slice(0, 5).map((k) => ({ index: k.index, relevance_score: k.score, document: { text: docs[k.index] } })));
    const v2 = await post(`${fx.http}/v2/rerank`, { model: RERANKER, query: "France", documents: docs, top_n: 3 });
    expect(v2.body.results).toEqual(all.slice(0, 3).map((k) => ({ index: k.index, relevance_score: k.score })));
    expect(v2.body.meta.api_version.version).toBe("2");
    const tei = await post(`${fx.http}/rerank`, { model: RERANKER, query: "France", texts: docs });
    expect(tei.body).toHaveLength(100);
    expect(tei.body[0]).toEqual({ index: all[0]?.index, score: all[0]?.score });
  });

  test("a replica killed mid-traffic: zero failed requests", async () => {
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    const worker = async (w: number) => {
      for (let n = 0; running; n++) {
        const input = Array.from({ length: 8 }, (_, i) => `w${w} n${n} i${i}`);
        try {
          const r = await post(`${fx.http}/v1/embeddings`, { model: MODEL, input });
          if (r.status === 200 && r.body.data.length === 8) ok++;
          else failures.push(`${r.status} ${r.text.slice(0, 200)}`);
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    await new Promise((r) => setTimeout(r, 400));
    await teis[1]?.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 1200));
    running = false;
    await Promise.all(workers);
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(20);
  }, 30_000);
});

describe("a model's own max_client_batch_size (from Info) sizes the chunks", () => {
  let tei: FakeTei;
  let fx: GatewayFixture;

  beforeAll(async () => {
    tei = await startConfiguredTei({ modelId: RERANKER, args: ["--max-client-batch-size", "8"] });
    fx = await startGateway([route("rr8", `${tei.host}:${tei.port}`, { modelId: RERANKER })]);
  }, 60_000);
  afterAll(async () => {
    await fx?.close();
    await tei?.stop();
  });

  test("the first rerank of 30 documents to a replica taking 8 is sent in 4 chunks and merged", async () => {
    const docs = Array.from({ length: 30 }, (_, i) => `doc ${i}`);
    const r = await post(`${fx.http}/rerank`, { query: "doc 1", texts: docs });
    expect(r.status).toBe(200);
    expect(r.body).toHaveLength(30);
    expect(new Set(r.body.map((x: { index: number }) => x.index)).size).toBe(30);
    const metrics = await (await fetch(`${fx.http}/metrics`)).text();
    expect(metrics).toMatch(/tei_gateway_batch_chunks_sum\{route="\/rerank"\} 4/);
  });
});
