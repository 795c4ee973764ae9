import { describe, expect, test } from "vitest";
import { endCall, onCallEnd, runAdmission } from "../../src/admission/admission.ts";
import { KeyRateLimiter } from "../../src/admission/key-rate-limiter.ts";
import { createRateLimit } from "../../src/admission/rate-limit.ts";
import { GrpcStatus, RouterError } from "../../src/grpc/grpc-status.ts";
import { grpcCall } from "../support/grpc-call.ts";
import { FakeClock } from "./fake-clock.ts";
import { keyView } from "./keys.ts";

/** Calls `n` times spread evenly over `ms`; returns how many were admitted. */
function offer(l: KeyRateLimiter, clock: FakeClock, key: ReturnType<typeof keyView>, n: number, ms: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    if (l.admit(key, clock.now()) === undefined) ok++;
    clock.advance(ms / n);
  }
  return ok;
}

describe("a key's request rate", () => {
  test("80/s with a burst of 50: a key at 4x its rate for 10 s gets 80/s plus the burst", () => {
    const clock = new FakeClock();
    const l = new KeyRateLimiter(clock);
    const k = keyView("hot");
    expect(offer(l, clock, k, 3200, 10_000)).toBeGreaterThanOrEqual(849);
    expect(offer(l, clock, k, 3200, 10_000)).toBeLessThanOrEqual(801);
  });

  test("the refusal is RESOURCE_EXHAUSTED naming the key and limit, with a retry hint that works", () => {
    const clock = new FakeClock();
    const l = new KeyRateLimiter(clock);
    const k = keyView("hot", { name: "batch-jobs" });
    for (let i = 0; i < 50; i++) expect(l.admit(k, clock.now())).toBeUndefined();
    const err = l.admit(k, clock.now()) as RouterError;
    expect(err).toBeInstanceOf(RouterError);
    expect(err.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(err.retryAfterMs).toBe(13); // 1/80 s, rounded up
    expect(err.message).toBe('API key "batch-jobs" is over its limit of 80 requests/s; retry in 13 ms');
    clock.advance(err.retryAfterMs as number);
    expect(l.admit(k, clock.now())).toBeUndefined();
  });

  test("each router enforces its share: 1/N before any grant, then what the grant says", () => {
    const clock = new FakeClock();
    const l = new KeyRateLimiter(clock, 4);
    const k = keyView("k", { limits: { requestsPerSecond: 100, burst: 40 } });
    expect(l.shareOf(k.hash)).toBe(0.25);
    expect(offer(l, clock, k, 1000, 10_000)).toBeCloseTo(250 + 10, -1);
    l.applyGrant({ routers: 4, shares: new Map([[k.hash, 0.5]]) }, clock.now());
    expect(offer(l, clock, k, 1000, 10_000)).toBeCloseTo(500, -1);
    // A key the grant does not name: an even split over the routers it counts.
    l.applyGrant({ routers: 2, shares: new Map() }, clock.now());
    expect(l.shareOf(k.hash)).toBe(0.5);
  });

  test("new limits published for a key apply on its next call", () => {
    const clock = new FakeClock();
    const l = new KeyRateLimiter(clock);
    const k = keyView("k", { limits: { requestsPerSecond: 10, burst: 1 } });
    expect(offer(l, clock, k, 100, 1000)).toBeLessThanOrEqual(11);
    const faster = { ...k, limits: { requestsPerSecond: 50, burst: 1 } };
    expect(offer(l, clock, faster, 100, 1000)).toBeGreaterThanOrEqual(49);
  });

  test("a rotated key's old and new hashes share one limit", () => {
    const clock = new FakeClock();
    const l = new KeyRateLimiter(clock);
    const limits = { requestsPerSecond: 1, burst: 4 };
    const old = keyView("old", { id: "key-7", limits });
    const rotated = keyView("new", { id: "key-7", limits });
    let ok = 0;
    for (let i = 0; i < 4; i++) for (const k of [old, rotated]) if (l.admit(k, clock.now()) === undefined) ok++;
    expect(ok).toBe(4);
  });

  test("counts what each key was asked (admitted and refused) for the next demand report", () => {
    const clock = new FakeClock();
    const l = new KeyRateLimiter(clock);
    const k = keyView("k", { limits: { requestsPerSecond: 1, burst: 1 } });
    for (let i = 0; i < 5; i++) l.admit(k, clock.now());
    l.chargeTokens(k, 30, clock.now());
    expect(l.takeDemand().get(k.hash)).toEqual({ requests: 5, tokens: 30 });
    expect(l.takeDemand().size).toBe(0);
  });
});

describe("a key's tokens per minute", () => {
  test("the step asks for TEI's token count, charges it at the end, and refuses while the key is in debt", () => {
    const clock = new FakeClock();
    const l = new KeyRateLimiter(clock);
    const k = keyView("k", { name: "rag", limits: { requestsPerSecond: 1000, burst: 1000, tokensPerMinute: 6000 } });
    const step = createRateLimit(l, clock);
    const call = { ...grpcCall("/tei.v1.Embed/Embed"), key: k };
    expect(runAdmission([step], call)).toBeUndefined();
    expect(call.computeTokens).toBe(0);
    call.computeTokens = 9000; // what the backend attempt read from x-compute-tokens
    endCall(call, GrpcStatus.OK);
    const next = { ...grpcCall("/tei.v1.Embed/Embed"), key: k };
    const err = runAdmission([step], next) as RouterError;
    expect(err.message).toBe('API key "rag" is over its limit of 6000 tokens/min; retry in 30000 ms');
    expect(err.retryAfterMs).toBe(30_000);
    clock.advance(30_001);
    expect(runAdmission([step], { ...grpcCall("/tei.v1.Embed/Embed"), key: k })).toBeUndefined();
  });

  test("a key without a token limit and an anonymous call count nothing and register nothing", () => {
    const clock = new FakeClock();
    const step = createRateLimit(new KeyRateLimiter(clock), clock);
    const keyed = { ...grpcCall("/tei.v1.Embed/Embed"), key: keyView("k") };
    const anonymous = grpcCall("/tei.v1.Embed/Embed");
    expect(runAdmission([step], keyed)).toBeUndefined();
    expect(runAdmission([step], anonymous)).toBeUndefined();
    expect([keyed.computeTokens, keyed.onEnd, anonymous.onEnd]).toEqual([-1, null, null]);
    onCallEnd(keyed, () => {});
  });
});
