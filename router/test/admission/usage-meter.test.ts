import type { ReportUsageRequest } from "@tei-fleet/proto/fleet/v1";
import { Registry } from "prom-client";
import { describe, expect, test } from "vitest";
import { endCall } from "../../src/admission/admission.ts";
import { KeyRateLimiter } from "../../src/admission/key-rate-limiter.ts";
import { createRateLimit } from "../../src/admission/rate-limit.ts";
import { UsageMeter } from "../../src/admission/usage-meter.ts";
import { registerUsageMetrics } from "../../src/admission/usage-metrics.ts";
import { UsageReporter } from "../../src/admission/usage-reporter.ts";
import { GrpcStatus, RouterError } from "../../src/grpc/grpc-status.ts";
import { grpcCall } from "../support/grpc-call.ts";
import { FakeClock } from "./fake-clock.ts";
import { keyView } from "./keys.ts";

const EMBED = "/tei.v1.Embed/Embed";

describe("the usage meter", () => {
  test("counts answered calls, inputs and tokens per key and model, and refusals by reason", () => {
    const m = new UsageMeter();
    const a = keyView("a", { id: "key-a" });
    m.answered(a, "bge", 1, 12);
    m.answered(a, "bge", 3, 0);
    m.answered(a, "e5", 1, 5);
    m.refused(a, "bge", "rate_limited");
    m.refused(a, "bge", "queue_full");
    const bge = m.counters(a, "bge");
    expect([bge.requests, bge.inputs, bge.tokens, bge.refused]).toEqual([2, 4, 12, [1, 1, 0, 0, 0]]);
    expect(m.drain()).toEqual([
      { keyId: "key-a", model: "bge", requests: 2, inputs: 4, tokens: 12, refused: { rate_limited: 1, queue_full: 1 } },
      { keyId: "key-a", model: "e5", requests: 1, inputs: 1, tokens: 5, refused: {} },
    ]);
    // A drain hands over the increase since the previous one only.
    expect(m.drain()).toEqual([]);
    m.answered(a, "e5", 1, 7);
    expect(m.drain()).toEqual([{ keyId: "key-a", model: "e5", requests: 1, inputs: 1, tokens: 7, refused: {} }]);
    // The cumulative counters stay (for the metrics).
    expect(m.counters(a, "e5").tokens).toBe(12);
  });

  test("a key without an id (keys file) is counted under its name but not reported", () => {
    const m = new UsageMeter();
    const k = keyView("local", { name: "local-team" });
    m.answered(k, "bge", 1, 3);
    expect([...m.all()].map((c) => c.keyId)).toEqual(["local-team"]);
    expect(m.drain()).toEqual([]);
  });

  test("a drain holds at most `max` entries; the rest wait for the next", () => {
    const m = new UsageMeter();
    for (let i = 0; i < 5; i++) m.answered(keyView(`k${i}`, { id: `key-${i}` }), "bge", 1, 1);
    expect(m.drain(3).map((d) => d.keyId)).toEqual(["key-0", "key-1", "key-2"]);
    expect(m.drain(3).map((d) => d.keyId)).toEqual(["key-3", "key-4"]);
    expect(m.drain(3)).toEqual([]);
  });

  test("a counted call allocates no counters once its (key, model) was seen", () => {
    const m = new UsageMeter();
    const k = keyView("a", { id: "key-a" });
    const first = m.counters(k, "bge");
    for (let i = 0; i < 1000; i++) m.answered(k, "bge", 1, 1);
    expect(m.counters(k, "bge")).toBe(first);
    expect(first.requests).toBe(1000);
  });
});

describe("the rate-limit step's usage hooks", () => {
  test("answered, rate-limited, queue-full and deadline calls are counted; other failures are not", () => {
    const clock = new FakeClock();
    const limiter = new KeyRateLimiter(clock);
    const meter = new UsageMeter();
    const step = createRateLimit(limiter, clock, { meter, models: { of: () => "bge" } });
    const key = keyView("k", { id: "key-k", limits: { requestsPerSecond: 1, burst: 3 } });
    const run = (code: number | null, tokens = 0) => {
      const call = grpcCall(EMBED);
      call.key = key;
      const d = step(call);
      if (d instanceof RouterError) return d;
      expect(call.computeTokens).toBe(0); // asks for x-compute-tokens
      if (tokens > 0) call.computeTokens = tokens;
      if (code !== null) endCall(call, code);
      return d;
    };
    run(GrpcStatus.OK, 10);
    run(GrpcStatus.RESOURCE_EXHAUSTED);
    run(GrpcStatus.UNAVAILABLE);
    expect(run(GrpcStatus.OK)).toBeInstanceOf(RouterError); // over the burst
    clock.advance(1000);
    run(GrpcStatus.DEADLINE_EXCEEDED);
    const c = meter.counters(key, "bge");
    expect([c.requests, c.inputs, c.tokens, c.refused]).toEqual([1, 1, 10, [1, 1, 1, 0, 0]]);
  });

  test("the router metrics show the counters by key and model", async () => {
    const meter = new UsageMeter();
    const registry = new Registry();
    registerUsageMetrics(registry, meter);
    const k = keyView("k", { id: "key-k" });
    meter.answered(k, "bge", 2, 9);
    meter.refused(k, "bge", "deadline");
    const text = await registry.metrics();
    expect(text).toContain('tei_router_key_requests_total{key="key-k",model="bge"} 1');
    expect(text).toContain('tei_router_key_inputs_total{key="key-k",model="bge"} 2');
    expect(text).toContain('tei_router_key_tokens_total{key="key-k",model="bge"} 9');
    expect(text).toContain('tei_router_key_refused_total{key="key-k",model="bge",reason="deadline"} 1');
  });
});

describe("the usage reporter", () => {
  test("resends a failed report with the same sequence, then moves on; nothing lost or doubled", async () => {
    const meter = new UsageMeter();
    const k = keyView("k", { id: "key-k" });
    const sent: ReportUsageRequest[] = [];
    let fail = true;
    const reporter = new UsageReporter({
      meter,
      router: "r1",
      sink: async (r) => {
        sent.push(r);
        if (fail) throw new Error("down");
      },
    });
    await reporter.flush(); // nothing counted: nothing sent
    expect(sent).toHaveLength(0);
    meter.answered(k, "bge", 1, 4);
    await reporter.flush();
    meter.answered(k, "bge", 1, 6); // counted while the first report waits
    await reporter.flush();
    expect(sent.map((r) => [r.sequence, r.usage[0]?.tokens])).toEqual([
      [1n, 4n],
      [1n, 4n],
    ]);
    fail = false;
    await reporter.flush(); // the resend is acknowledged
    expect(reporter.unacknowledged).toBeNull();
    await reporter.flush(); // the counts of the meanwhile, as a new report
    await reporter.flush(); // nothing new
    expect(sent.map((r) => [r.sequence, r.usage[0]?.tokens])).toEqual([
      [1n, 4n],
      [1n, 4n],
      [1n, 4n],
      [2n, 6n],
    ]);
    expect(reporter.unacknowledged).toBeNull();
  });
});
