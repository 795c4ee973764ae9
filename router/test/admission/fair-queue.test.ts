import { describe, expect, test } from "vitest";
import { type AdmissionCall, abandonCall, endCall } from "../../src/admission/admission.ts";
import type { ApiKeyView } from "../../src/admission/api-key-view.ts";
import { FairQueue } from "../../src/admission/fair-queue.ts";
import { GrpcStatus, RouterError } from "../../src/grpc/grpc-status.ts";
import { grpcCall } from "../support/grpc-call.ts";
import { FakeClock } from "./fake-clock.ts";
import { keyView } from "./keys.ts";

const models = { of: (t: AdmissionCall["target"]) => (t?.kind === "model" ? t.model : undefined) };

function setup(o: { maxInflight?: number; maxQueuePerModel?: number; requestTimeoutMs?: number } = {}) {
  const clock = new FakeClock();
  const q = new FairQueue({ ...o, clock, models });
  /** A unary Embed call for `model`, arriving now on the fake clock. */
  const call = (model = "m", key: ApiKeyView | null = null, headers: Record<string, string> = {}): AdmissionCall => ({
    ...grpcCall("/tei.v1.Embed/Embed", headers),
    startedAt: clock.now(),
    target: { kind: "model", model },
    key,
  });
  return { clock, q, call };
}

/** A call's admission, as it settles: "admitted", a refusal, or "waiting". */
function track(decision: ReturnType<FairQueue["admit"]>): { state: "admitted" | "waiting" | RouterError } {
  const t: { state: "admitted" | "waiting" | RouterError } = { state: "waiting" };
  if (decision === undefined) t.state = "admitted";
  else if (decision instanceof RouterError) t.state = decision;
  else decision.then((d) => (t.state = d ?? "admitted"));
  return t;
}

const settle = () => new Promise((r) => setImmediate(r));

describe("the in-flight limit and the queue", () => {
  test("calls go straight on while slots are free, allocating no wait, and give their slot back at their end", () => {
    const { q, call } = setup({ maxInflight: 2 });
    const a = call();
    expect(q.admit(a)).toBeUndefined();
    expect(q.admit(call())).toBeUndefined();
    expect([q.inflight, a.queueMs]).toEqual([2, 0]);
    endCall(a, GrpcStatus.OK);
    expect(q.inflight).toBe(1);
  });

  test("a call without a slot waits, and is admitted when one frees, with its time in the queue noted", async () => {
    const { clock, q, call } = setup({ maxInflight: 1 });
    const first = call();
    q.admit(first);
    const second = call();
    const t = track(q.admit(second));
    clock.advance(40);
    await settle();
    expect(t.state).toBe("waiting");
    endCall(first, GrpcStatus.OK);
    await settle();
    expect(t.state).toBe("admitted");
    expect(second.queueMs).toBe(40);
    expect(q.inflight).toBe(1);
  });

  test("a full queue refuses at once with RESOURCE_EXHAUSTED and a retry hint", () => {
    const { q, call } = setup({ maxInflight: 1, maxQueuePerModel: 2 });
    q.admit(call());
    q.admit(call());
    q.admit(call());
    const err = q.admit(call()) as RouterError;
    expect(err).toBeInstanceOf(RouterError);
    expect(err.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(err.message).toMatch(/^the queue of model "m" is full \(2 calls waiting\); retry in \d+ ms$/);
    expect(err.retryAfterMs).toBeGreaterThanOrEqual(10);
    // Another model's queue is its own.
    expect(q.admit(call("other"))).toBeInstanceOf(Promise);
    expect([q.depth("m"), q.depth("other")]).toEqual([2, 1]);
  });

  test("a queue of 0 refuses whatever finds no slot", () => {
    const { q, call } = setup({ maxInflight: 1, maxQueuePerModel: 0 });
    q.admit(call());
    expect((q.admit(call()) as RouterError).code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
  });

  test("a call whose deadline passes in the queue is DEADLINE_EXCEEDED and is never admitted", async () => {
    const { clock, q, call } = setup({ maxInflight: 1, requestTimeoutMs: 1000 });
    const first = call();
    q.admit(first);
    const late = track(q.admit(call()));
    const callerBound = track(q.admit(call("m", null, { "grpc-timeout": "200m" })));
    clock.advance(200);
    await settle();
    expect((callerBound.state as RouterError).code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(late.state).toBe("waiting");
    clock.advance(800);
    await settle();
    expect(late.state).toMatchObject({ code: GrpcStatus.DEADLINE_EXCEEDED, message: "deadline exceeded after 1000 ms in the queue" });
    endCall(first, GrpcStatus.OK);
    expect([q.inflight, q.waiting, clock.pending, q.queuedModels]).toEqual([0, 0, 0, 0]);
  });

  test("a call whose client leaves while it waits gives its place up at once", async () => {
    const { q, call } = setup({ maxInflight: 1, maxQueuePerModel: 1 });
    const first = call();
    q.admit(first);
    const gone = call();
    const t = track(q.admit(gone));
    expect((q.admit(call()) as RouterError).code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    abandonCall(gone);
    await settle();
    expect((t.state as RouterError).code).toBe(GrpcStatus.CANCELLED);
    expect(q.waiting).toBe(0);
    const next = track(q.admit(call()));
    endCall(first, GrpcStatus.OK);
    await settle();
    expect(next.state).toBe("admitted");
  });

  test("a call that arrives past its deadline is refused without waiting", () => {
    const { clock, q, call } = setup({ maxInflight: 1 });
    q.admit(call());
    const old = call("m", null, { "grpc-timeout": "5m" });
    clock.advance(10);
    expect((q.admit(old) as RouterError).code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
  });

  test("streaming calls are not held to the limit", () => {
    const { q } = setup({ maxInflight: 1 });
    const stream = (): AdmissionCall => ({ ...grpcCall("/tei.v1.Embed/EmbedStream"), target: { kind: "model", model: "m" } });
    q.admit(stream());
    expect(q.admit(stream())).toBeUndefined();
    expect(q.inflight).toBe(0);
  });
});

describe("fairness under overload", () => {
  /**
   * A deterministic scheduler over one FairQueue: the calls with TEI are answered oldest first,
   * one at a time; each answer frees a slot for the next queued call.
   */
  function scheduler(q: FairQueue, call: (model: string, key: ApiKeyView | null) => AdmissionCall) {
    const running: AdmissionCall[] = [];
    const admitted: string[] = [];
    return {
      /** Offers `n` calls of `who` (for `model`, with `key`). */
      offer(who: string, model: string, key: ApiKeyView | null, n: number): void {
        for (let i = 0; i < n; i++) {
          const c = call(model, key);
          const d = q.admit(c);
          if (d === undefined) running.push(c);
          else if (d instanceof Promise)
            void d.then((r) => {
              if (r !== undefined) return;
              running.push(c);
              admitted.push(who);
            });
        }
      },
      /** Answers `n` calls in turn; returns who got the slots they freed. */
      async answer(n: number): Promise<Map<string, number>> {
        for (let i = 0; i < n; i++) {
          endCall(running.shift() as AdmissionCall, GrpcStatus.OK);
          await settle();
        }
        const got = new Map<string, number>();
        for (const who of admitted) got.set(who, (got.get(who) ?? 0) + 1);
        return got;
      },
    };
  }

  test("one key flooding a model gets its weight's part of the slots, and no other key starves", async () => {
    const { q, call } = setup({ maxInflight: 4, maxQueuePerModel: 10_000 });
    const s = scheduler(q, call);
    const flood = keyView("flood", { name: "flood" });
    s.offer("flood", "m", flood, 2004); // arrives first, and far more: 4 take the slots, the rest wait
    s.offer("small", "m", keyView("small", { name: "small" }), 200);
    s.offer("paid", "m", keyView("paid", { name: "paid", weight: 2 }), 200);
    s.offer("anonymous", "m", null, 200);
    const got = await s.answer(250);
    // Weights 1 : 1 : 2 : 1 (anonymous calls are one flow of weight 1).
    expect(Object.fromEntries(got)).toEqual({ flood: 50, small: 50, paid: 100, anonymous: 50 });
  });

  test("models with calls waiting take turns for the router's slots", async () => {
    const { q, call } = setup({ maxInflight: 2 });
    const s = scheduler(q, call);
    s.offer("a", "a", null, 102);
    s.offer("b", "b", null, 10);
    expect(Object.fromEntries(await s.answer(20))).toEqual({ a: 10, b: 10 });
  });
});

describe("spare slots (an HTTP batch's parallel TEI calls)", () => {
  test("taken only while slots are free and nobody waits; given back, they admit the next waiting call", async () => {
    const { q, call } = setup({ maxInflight: 3 });
    const request = call();
    expect(q.admit(request)).toBeUndefined();
    expect([q.takeSpare(), q.takeSpare(), q.takeSpare()]).toEqual([true, true, false]);
    expect(q.inflight).toBe(3);
    const waiting = track(q.admit(call()));
    expect(waiting.state).toBe("waiting");
    q.giveSpare();
    await settle();
    expect(waiting.state).toBe("admitted");
    expect(q.inflight).toBe(3);
    // A slot freed while a call waits goes to the call, not to a batch asking for a spare one.
    const next = track(q.admit(call()));
    expect(q.takeSpare()).toBe(false);
    q.giveSpare();
    await settle();
    expect(next.state).toBe("admitted");
    endCall(request, GrpcStatus.OK);
    expect(q.inflight).toBe(2);
  });
});
