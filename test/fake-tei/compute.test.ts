import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Embed, Rerank } from "@tei-fleet/proto/tei/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeTei, startFakeTei } from "./launcher.ts";

/** A text of `tokens` tokens: one per code point, plus [CLS] and [SEP]. */
const text = (tokens: number, seed = "a") => seed.repeat(tokens - 2);
const ms = (ns: bigint | undefined) => Number(ns ?? 0n) / 1e6;

/** Calls unary Embed and returns the answer's headers, Metadata and wall time. */
async function timedEmbed(tei: FakeTei, inputs: string, truncate = false) {
  let headers = new Headers();
  const t0 = performance.now();
  const res = await createClient(Embed, tei.transport).embed({ inputs, truncate }, { onHeader: (h) => (headers = h) });
  return { wall: performance.now() - t0, metadata: res.metadata, headers };
}

describe("simulated compute time per token (FAKE_TEI_COMPUTE_US_PER_TOKEN)", () => {
  let tei: FakeTei;
  beforeAll(async () => {
    // 1 ms per token; batches of at most 128 tokens, so each 100-token input is a batch alone.
    tei = await startFakeTei({ args: ["--max-batch-tokens", "128"], env: { FAKE_TEI_COMPUTE_US_PER_TOKEN: "1000" } });
  });
  afterAll(() => tei?.stop("SIGKILL"));

  it("spends compute time in proportion to tokens and reports it like TEI", async () => {
    const small = await timedEmbed(tei, text(50));
    const large = await timedEmbed(tei, text(100));
    expect(ms(small.metadata?.inferenceTimeNs)).toBeGreaterThanOrEqual(49);
    expect(ms(small.metadata?.inferenceTimeNs)).toBeLessThan(80);
    const ratio = ms(large.metadata?.inferenceTimeNs) / ms(small.metadata?.inferenceTimeNs);
    expect(ratio).toBeGreaterThan(1.7);
    expect(ratio).toBeLessThan(2.3);
    expect(large.wall).toBeGreaterThanOrEqual(99);
    expect(large.metadata?.computeTokens).toBe(100);
    expect(large.headers.get("x-compute-tokens")).toBe("100");
    expect(Number(large.headers.get("x-inference-time"))).toBeGreaterThanOrEqual(99);
    expect(Number(large.headers.get("x-compute-time"))).toBeGreaterThanOrEqual(Number(large.headers.get("x-inference-time")));
  });

  it("runs one batch at a time: concurrent calls queue for the device", async () => {
    const t0 = performance.now();
    const all = await Promise.all([0, 1, 2, 3].map((i) => timedEmbed(tei, text(100, String(i)))));
    const wall = performance.now() - t0;
    // 4 × 100 tokens through one device at 1 ms per token: about 400 ms, not 100.
    expect(wall).toBeGreaterThanOrEqual(395);
    const queues = all.map((r) => ms(r.metadata?.queueTimeNs)).sort((a, b) => a - b);
    expect(queues[0]).toBeLessThan(30);
    expect(queues[3]).toBeGreaterThanOrEqual(290);
    expect(Number(all.map((r) => r.headers.get("x-queue-time")).sort((a, b) => Number(b) - Number(a))[0])).toBeGreaterThanOrEqual(290);
    for (const r of all) expect(ms(r.metadata?.inferenceTimeNs)).toBeLessThan(150);
  });

  it("bounds a replica's throughput for streams too", async () => {
    async function* items() {
      for (let i = 0; i < 3; i++) yield { inputs: text(100, String(i)) };
    }
    const t0 = performance.now();
    let n = 0;
    for await (const _ of createClient(Embed, tei.transport).embedStream(items())) n++;
    expect(n).toBe(3);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(295);
  });

  it("keeps TEI's input limit under --max-batch-tokens", async () => {
    const err = ConnectError.from(
      await createClient(Embed, tei.transport)
        .embed({ inputs: text(130), truncate: false })
        .catch((e: unknown) => e),
    );
    expect([err.code, err.rawMessage]).toEqual([Code.InvalidArgument, "Input validation error: `inputs` must have less than 128 tokens. Given: 130"]);
    // Truncated, it runs as one full batch of 128 tokens.
    const res = await timedEmbed(tei, text(130), true);
    expect(res.metadata?.computeTokens).toBe(128);
    expect(ms(res.metadata?.inferenceTimeNs)).toBeGreaterThanOrEqual(127);
  });
});

describe("batching on the simulated device", () => {
  const dir = mkdtempSync(join(tmpdir(), "fake-tei-compute-"));

  /** Sends 8 concurrent 10-token Embeds; returns the wall time and te_batch_next_size's count. */
  async function eightAtOnce(tei: FakeTei): Promise<{ wall: number; batches: number }> {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 8 }, (_, i) => timedEmbed(tei, text(10, String(i)))));
    const wall = performance.now() - t0;
    const metrics = await (await fetch(`http://127.0.0.1:${tei.prometheusPort}/metrics`)).text();
    return { wall, batches: Number(/^te_batch_next_size_count (\d+)/m.exec(metrics)?.[1]) };
  }

  it("batches queued items together: a per-batch floor is paid per batch, not per call", async () => {
    // Set through the faults file, as the node agent's clean environment requires.
    const faultsFile = join(dir, "faults.json");
    writeFileSync(faultsFile, JSON.stringify({ "*": { computeBatchFloorUs: 200_000, computeUsPerToken: 1 } }));
    const tei = await startFakeTei({ env: { FAKE_TEI_FAULTS_FILE: faultsFile } });
    try {
      // The first call finds the device idle and runs alone; the other 7 queue and share one batch.
      const { wall, batches } = await eightAtOnce(tei);
      expect(batches).toBe(2);
      expect(wall).toBeGreaterThanOrEqual(395);
      expect(wall).toBeLessThan(1000);
    } finally {
      await tei.stop("SIGKILL");
    }
  });

  it("caps a batch at --max-batch-requests items", async () => {
    const tei = await startFakeTei({ args: ["--max-batch-requests", "2"], env: { FAKE_TEI_COMPUTE_BATCH_FLOOR_US: "100000" } });
    try {
      // 1 + 2 + 2 + 2 + 1: five batches of 100 ms.
      const { wall, batches } = await eightAtOnce(tei);
      expect(batches).toBe(5);
      expect(wall).toBeGreaterThanOrEqual(495);
    } finally {
      await tei.stop("SIGKILL");
    }
  });

  it("spends no time by default", async () => {
    const tei = await startFakeTei();
    try {
      const res = await timedEmbed(tei, text(500));
      expect(ms(res.metadata?.inferenceTimeNs)).toBeLessThan(20);
      expect(ms(res.metadata?.queueTimeNs)).toBeLessThan(20);
    } finally {
      await tei.stop("SIGKILL");
    }
  });
});

describe("TEI's batch limit on Rerank", () => {
  it("refuses more texts than --max-client-batch-size with TEI's message, and accepts that many", async () => {
    const tei = await startFakeTei({ modelId: "BAAI/bge-reranker-base", args: ["--max-client-batch-size", "4"] });
    try {
      const rerank = createClient(Rerank, tei.transport);
      const err = ConnectError.from(await rerank.rerank({ query: "q", texts: ["a", "b", "c", "d", "e"] }).catch((e: unknown) => e));
      expect([err.code, err.rawMessage]).toEqual([Code.InvalidArgument, "batch size 5 > maximum allowed batch size 4"]);
      expect((await rerank.rerank({ query: "q", texts: ["a", "b", "c", "d"] })).ranks).toHaveLength(4);
    } finally {
      await tei.stop("SIGKILL");
    }
  });
});
