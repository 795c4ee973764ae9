import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as S } from "@tei-fleet/proto/grpc/health/v1";
import { Embed, Rerank, type TruncationDirection } from "@tei-fleet/proto/tei/v1";
import { describe, expect, it } from "vitest";
import { spawnFakeTei, startFakeTei } from "./launcher.ts";

const dir = mkdtempSync(join(tmpdir(), "fake-tei-"));

/** The gRPC code of a failed call. */
async function codeOf(call: Promise<unknown>): Promise<Code> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err).code;
  }
  throw new Error("call succeeded");
}

describe("fault injection", () => {
  it("exits with FAKE_TEI_EXIT_AT_START's code right after the Args line", async () => {
    const proc = spawnFakeTei(["--model-id", "BAAI/bge-small-en-v1.5"], { FAKE_TEI_EXIT_AT_START: "3" });
    expect((await proc.exited).code).toBe(3);
    expect(proc.stdout().trim().split("\n")).toHaveLength(1);
    expect(proc.stderr()).toMatch(/^Error: /);
  });

  it("aborts with SIGABRT after N requests, configured per model in a faults file", async () => {
    const faultsFile = join(dir, "faults.json");
    writeFileSync(faultsFile, JSON.stringify({ "*": { crashAfterRequests: 99 }, "BAAI/bge-small-en-v1.5": { FAKE_TEI_CRASH_AFTER_REQUESTS: 2 } }));
    const tei = await startFakeTei({ env: { FAKE_TEI_FAULTS_FILE: faultsFile } });
    const embed = createClient(Embed, tei.transport);
    await embed.embed({ inputs: "one" });
    await embed.embed({ inputs: "two" });
    await expect(embed.embed({ inputs: "three" })).rejects.toThrow();
    expect(await tei.exited).toEqual({ code: null, signal: "SIGABRT" });
    expect(tei.stderr()).toContain("panicked at");
  });

  it("stops answering inference after N requests while health keeps answering", async () => {
    const tei = await startFakeTei({ env: { FAKE_TEI_HANG_AFTER_REQUESTS: "1" } });
    try {
      const embed = createClient(Embed, tei.transport);
      await embed.embed({ inputs: "one" });
      expect(await codeOf(embed.embed({ inputs: "two" }, { timeoutMs: 300 }))).toBe(Code.DeadlineExceeded);
      expect((await createClient(Health, tei.transport).check({ service: "tei.v1.Embed" })).status).toBe(S.SERVING);
    } finally {
      await tei.stop("SIGKILL");
    }
  });

  it("returns RESOURCE_EXHAUSTED when slow requests use up --max-concurrent-requests, and drains on SIGTERM", async () => {
    const tei = await startFakeTei({ args: ["--max-concurrent-requests", "1"], env: { FAKE_TEI_SLOW_MS: "400" } });
    const embed = createClient(Embed, tei.transport);
    const first = embed.embed({ inputs: "slow" });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const err = ConnectError.from(await embed.embed({ inputs: "rejected" }).catch((e: unknown) => e));
    expect([err.code, err.rawMessage]).toEqual([Code.ResourceExhausted, "Model is overloaded"]);
    // Graceful shutdown: the call in flight still completes, then the process exits 0.
    tei.child.kill("SIGTERM");
    expect((await first).embeddings).toHaveLength(384);
    expect(await tei.exited).toEqual({ code: 0, signal: null });
  });

  it("keeps the model service NOT_SERVING until warm-up ends", async () => {
    const tei = await startFakeTei({ env: { FAKE_TEI_SERVING_DELAY_MS: "400" }, waitFor: "tei.v1.Info" });
    try {
      const health = createClient(Health, tei.transport);
      expect((await health.check({ service: "tei.v1.Embed" })).status).toBe(S.NOT_SERVING);
      const seen: number[] = [];
      for await (const res of health.watch({ service: "tei.v1.Embed" }, { timeoutMs: 3000 })) {
        seen.push(res.status);
        if (res.status === S.SERVING) break;
      }
      expect(seen).toEqual([S.NOT_SERVING, S.SERVING]);
    } finally {
      await tei.stop("SIGKILL");
    }
  });

  it("falls back to the CPU with TEI's warnings when asked", async () => {
    const tei = await startFakeTei({ env: { CUDA_VISIBLE_DEVICES: "0", FAKE_TEI_CPU_FALLBACK: "true" } });
    await tei.stop("SIGKILL");
    expect(tei.stdout()).toMatch(/WARN .*Could not find a compatible CUDA device on host/);
    expect(tei.stdout()).toMatch(/Starting \w+ model on Cpu/);
  });

  it("records its exact argv and environment", async () => {
    const tei = await startFakeTei({ env: { FAKE_TEI_RECORD_FILE: join(dir, "record-{port}.json"), CUDA_VISIBLE_DEVICES: "1" } });
    await tei.stop("SIGKILL");
    const record = JSON.parse(readFileSync(join(dir, `record-${tei.port}.json`), "utf8")) as Record<string, unknown>;
    expect(record.pid).toBe(tei.pid);
    expect(record.argv).toEqual([
      "--model-id",
      "BAAI/bge-small-en-v1.5",
      "--hostname",
      "127.0.0.1",
      "--port",
      String(tei.port),
      "--prometheus-port",
      String(tei.prometheusPort),
    ]);
    expect(Object.keys(record.env as object).sort()).toEqual(["CUDA_VISIBLE_DEVICES", "FAKE_TEI_RECORD_FILE", "HOME", "PATH"]);
  });

  it("aborts like TEI on a truncation_direction outside the enum and on an empty RerankStream", async () => {
    const [embedder, reranker] = await Promise.all([startFakeTei(), startFakeTei({ modelId: "BAAI/bge-reranker-base" })]);
    const bad = { inputs: "x", truncationDirection: 7 as TruncationDirection };
    await expect(createClient(Embed, embedder.transport).embed(bad)).rejects.toThrow();
    expect((await embedder.exited).signal).toBe("SIGABRT");
    expect(embedder.stderr()).toContain("Unexpected enum value");

    await expect(createClient(Rerank, reranker.transport).rerankStream((async function* () {})())).rejects.toThrow();
    expect((await reranker.exited).signal).toBe("SIGABRT");
    expect(reranker.stderr()).toContain("attempt to divide by zero");
  });
});
