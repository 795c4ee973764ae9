import { describe, expect, it } from "vitest";
import type { ProbeResult } from "../src/health-probe.ts";
import { createInstanceProber } from "../src/instance-prober.ts";
import type { TeiClient } from "../src/tei-client.ts";
import { testLogger } from "./helpers.ts";

/** A prober whose probes answer `results` in turn (the client is never called). */
function scripted(results: ProbeResult[], options: { intervalMs?: number; failureThreshold?: number } = {}) {
  const sent: number[] = [];
  const prober = createInstanceProber({
    intervalMs: options.intervalMs ?? 5_000,
    timeoutMs: 100,
    failureThreshold: options.failureThreshold ?? 3,
    failedRetryMs: 1_000,
    logger: testLogger,
    labels: () => ({ assignmentId: "emb-0", instance: "emb" }),
    send: async (_client, _kind, timeoutMs) => {
      sent.push(timeoutMs);
      return results.shift() ?? { ok: true, latencyMs: 1 };
    },
  });
  return { prober, sent, probe: () => prober.probe({} as TeiClient, "embedding", () => true) };
}

const ok = (dimension?: number): ProbeResult => ({ ok: true, latencyMs: 1, dimension });
const failed = (error = "UNAVAILABLE"): ProbeResult => ({ ok: false, latencyMs: 1, error });

describe("liveness prober", () => {
  it("probes at once after readiness, then every interval while healthy", async () => {
    const { prober, probe, sent } = scripted([ok(384)]);
    prober.ready(1_000);
    expect(prober.dueInMs(1_000)).toBe(0);
    expect(prober.lastCheckMs).toBe(1_000);
    expect(await probe()).toMatchObject({ kind: "healthy", dimension: 384 });
    expect(sent).toEqual([100]);
    expect(prober.dueInMs()).toBeGreaterThan(4_900);
  });

  it("retries a failed probe within a second and reports unhealthy at the threshold, naming the last error", async () => {
    const { prober, probe } = scripted([failed(), failed(), failed("DEADLINE_EXCEEDED")]);
    prober.ready();
    expect(await probe()).toMatchObject({ kind: "failing", failures: 1 });
    expect(prober.dueInMs()).toBeLessThanOrEqual(1_000);
    expect(await probe()).toMatchObject({ kind: "failing", failures: 2 });
    expect(await probe()).toEqual({
      kind: "unhealthy",
      atMs: expect.any(Number),
      failures: 3,
      reason: "liveness probe failed 3 times in a row (last: DEADLINE_EXCEEDED)",
    });
    expect(prober.failures).toBe(3);
    prober.reset();
    expect(prober.failures).toBe(0);
  });

  it("starts counting again after a probe succeeds", async () => {
    const { prober, probe } = scripted([failed(), failed(), ok(), failed()]);
    for (let i = 0; i < 3; i++) await probe();
    expect(prober.failures).toBe(0);
    expect(await probe()).toMatchObject({ kind: "failing", failures: 1 });
  });

  it("drops an answer about a process that is no longer the current one", async () => {
    const { prober } = scripted([failed()]);
    prober.ready(5);
    expect(await prober.probe({} as TeiClient, "embedding", () => false)).toBeUndefined();
    expect(prober.failures).toBe(0);
    expect(prober.lastCheckMs).toBe(5);
  });
});
