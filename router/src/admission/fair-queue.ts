/**
 * Admission step: bounded queues in front of the backends. At most `maxInflight` unary calls of
 * this router are with TEI at once (seed 003's `max_inflight_global`, default 256); a call
 * arriving when all are taken waits in its model's queue (`max_queue_per_model`, default 1000)
 * and is admitted when a call ends. A full queue refuses at once (RESOURCE_EXHAUSTED with a
 * retry hint), never leaving the call to hang; a call whose deadline (call-deadline.ts) passes
 * while it waits is answered DEADLINE_EXCEEDED and never reaches TEI.
 *
 * Who goes next when a slot frees: the models with waiting calls take turns, and within a model
 * the keys take turns by deficit round robin, weighted by key (deficit-round-robin.ts), so a key
 * flooding a model cannot starve the others. Anonymous calls are one flow.
 *
 * An HTTP gateway request is admitted as one call and holds one slot; the further TEI calls its
 * batch sends in parallel take spare slots (takeSpare) while any are free, so the limit counts
 * calls with TEI, whichever surface they came from.
 *
 * Streaming calls pass untouched: a stream lives as long as its client wants and carries many
 * items, which TEI admits one by one, so a slot held for its life would let a few streams shut
 * out every unary call. The fast path (a free slot, nobody waiting) allocates nothing: the slot
 * is given back by one shared end hook.
 */
import { GrpcStatus, RouterError } from "../grpc/grpc-status.ts";
import { type Admission, type AdmissionCall, type AdmissionStep, type CallEndHook, onCallEnd } from "./admission.ts";
import type { AdmissionClock, TimerHandle } from "./admission-clock.ts";
import { limitId } from "./api-key-view.ts";
import { remainingMs } from "./call-deadline.ts";
import type { CallModels } from "./call-model.ts";
import { DeficitRoundRobin, type FlowItem } from "./deficit-round-robin.ts";

/**
 * Spare in-flight slots for a request that already holds one and sends several TEI calls at once
 * (the HTTP gateway's batch): see {@link FairQueue.takeSpare}.
 */
export interface SpareSlots {
  /** A slot if one is free and no call waits for one; false otherwise (never waits). */
  takeSpare(): boolean;
  /** Gives a slot from takeSpare back. */
  giveSpare(): void;
}

/** Options of a {@link FairQueue}; defaults are seed 003's. */
export interface FairQueueOptions {
  /** Unary calls of this router with TEI at once. Default 256. */
  readonly maxInflight?: number;
  /** Calls that may wait per model; 0: none wait (a call without a slot is refused). Default 1000. */
  readonly maxQueuePerModel?: number;
  /** A call's deadline when its caller sets none shorter (grpc-timeout). Default 120 000 ms. */
  readonly requestTimeoutMs?: number;
  readonly clock: AdmissionClock;
  /** The model of a call's target (its queue); calls without one share the queue "". */
  readonly models: Pick<CallModels, "of">;
}

/** A call waiting for a slot. */
interface Waiter extends FlowItem {
  readonly call: AdmissionCall;
  readonly queue: ModelQueue;
  readonly since: number;
  timer: TimerHandle;
  readonly resolve: (d: RouterError | undefined) => void;
}

/** One model's waiting calls. */
interface ModelQueue {
  readonly model: string;
  readonly order: DeficitRoundRobin<Waiter>;
  /** Calls waiting (not yet admitted, expired or cancelled). */
  waiting: number;
  inRing: boolean;
}

/** The router's in-flight limit and its per-model, per-key fair queues. */
export class FairQueue implements SpareSlots {
  /** Unary calls admitted and not yet ended. */
  inflight = 0;
  /** Calls waiting, all models together. */
  waiting = 0;
  /** The step to put in the chain (last: nothing after it may refuse a call holding a slot). */
  readonly step: AdmissionStep;
  private readonly maxInflight: number;
  private readonly maxQueue: number;
  private readonly timeoutMs: number;
  private readonly clock: AdmissionClock;
  private readonly models: Pick<CallModels, "of">;
  private readonly queues = new Map<string, ModelQueue>();
  /** Models with calls waiting, in turn order. */
  private readonly ring: ModelQueue[] = [];
  private turn = 0;
  /** Smoothed time a call holds its slot (ms): how fast a queue drains, for the retry hint. */
  private holdMs = 10;

  constructor(o: FairQueueOptions) {
    this.maxInflight = Math.max(1, o.maxInflight ?? 256);
    this.maxQueue = Math.max(0, o.maxQueuePerModel ?? 1000);
    this.timeoutMs = o.requestTimeoutMs ?? 120_000;
    this.clock = o.clock;
    this.models = o.models;
    this.step = (call) => this.admit(call);
  }

  /** Models with a queue now (an emptied one is dropped). */
  get queuedModels(): number {
    return this.queues.size;
  }

  /** Calls waiting for `model`'s turn. */
  depth(model: string): number {
    return this.queues.get(model)?.waiting ?? 0;
  }

  /** Admits, queues or refuses one call. */
  admit(call: AdmissionCall): Admission {
    if (call.method === undefined || call.method.kind !== "unary") return undefined;
    if (this.inflight < this.maxInflight && this.waiting === 0) {
      this.inflight++;
      call.queueMs = 0;
      onCallEnd(call, this.release);
      return undefined;
    }
    const model = this.models.of(call.target) ?? "";
    const q = this.queueOf(model);
    if (q.waiting >= this.maxQueue) return this.full(q);
    const now = this.clock.now();
    const left = remainingMs(call, this.timeoutMs, now);
    if (left <= 0) return new RouterError(GrpcStatus.DEADLINE_EXCEEDED, "deadline exceeded before the call could be queued");
    return new Promise<RouterError | undefined>((resolve) => {
      const w: Waiter = { done: false, call, queue: q, since: now, timer: null, resolve };
      w.timer = this.clock.setTimer(() => this.expire(w), left);
      const key = call.key;
      q.order.push(key === null ? "" : limitId(key), key?.weight ?? 1, w);
      q.waiting++;
      this.waiting++;
      call.abandon = () => {
        if (w.done) return;
        this.settle(w);
        w.resolve(new RouterError(GrpcStatus.CANCELLED, "the client left while its call was queued"));
      };
      if (!q.inRing) {
        q.inRing = true;
        this.ring.push(q);
      }
    });
  }

  /**
   * A spare slot for one more TEI call of an admitted request (the HTTP gateway's batch, whose
   * request holds one slot and sends its inputs' calls in parallel): taken only when one is free
   * and no call waits, so a batch widens into idle capacity and never past the in-flight limit,
   * and never ahead of a queued call. Never waits (a request waiting for slots while holding one
   * could deadlock with others doing the same). Give it back with {@link giveSpare}.
   */
  takeSpare(): boolean {
    if (this.inflight >= this.maxInflight || this.waiting > 0) return false;
    this.inflight++;
    return true;
  }

  /** Gives back a slot from {@link takeSpare}, handing it to the next waiting call. */
  giveSpare(): void {
    this.inflight--;
    if (this.waiting > 0) this.dispatch();
  }

  /** Gives a slot back and hands it to the next waiting call. Shared by every call. */
  private readonly release: CallEndHook = (_code, call) => {
    this.inflight--;
    if (this.waiting === 0) return;
    // Only under load is the hold time needed (for the full queue's hint), and only then read.
    const held = this.clock.now() - call.startedAt - call.queueMs;
    if (held >= 0) this.holdMs += 0.1 * (held - this.holdMs);
    this.dispatch();
  };

  private dispatch(): void {
    while (this.inflight < this.maxInflight && this.waiting > 0) {
      const w = this.next();
      if (w === undefined) return;
      this.settle(w);
      this.inflight++;
      const call = w.call;
      call.queueMs = this.clock.now() - w.since;
      onCallEnd(call, this.release);
      w.resolve(undefined);
    }
  }

  /** The next call to admit: models take turns, and keys take turns within a model. */
  private next(): Waiter | undefined {
    while (this.ring.length > 0) {
      if (this.turn >= this.ring.length) this.turn = 0;
      const q = this.ring[this.turn] as ModelQueue;
      const w = q.waiting > 0 ? q.order.pop() : undefined;
      if (w === undefined) {
        this.ring.splice(this.turn, 1);
        q.inRing = false;
        continue;
      }
      this.turn++;
      return w;
    }
    return undefined;
  }

  private expire(w: Waiter): void {
    if (w.done) return;
    this.settle(w);
    w.resolve(new RouterError(GrpcStatus.DEADLINE_EXCEEDED, `deadline exceeded after ${Math.round(this.clock.now() - w.since)} ms in the queue`));
  }

  /** Takes a waiter out of the counts (the queue drops it when it comes up). */
  private settle(w: Waiter): void {
    w.done = true;
    w.call.abandon = null;
    this.clock.clearTimer(w.timer);
    const q = w.queue;
    q.waiting--;
    this.waiting--;
    if (q.waiting === 0) this.drop(q);
  }

  /** Forgets a queue that emptied: model names come from callers, and must not pile up. */
  private drop(q: ModelQueue): void {
    const i = this.ring.indexOf(q);
    if (i >= 0) {
      this.ring.splice(i, 1);
      if (i < this.turn) this.turn--;
    }
    q.inRing = false;
    if (this.queues.get(q.model) === q) this.queues.delete(q.model);
  }

  private full(q: ModelQueue): RouterError {
    // Hint: the time the calls ahead take to be admitted, at the throughput measured.
    const drainMs = Math.min(5000, Math.max(10, Math.ceil((q.waiting * this.holdMs) / this.maxInflight)));
    const what = q.model === "" ? "the router's queue" : `the queue of model "${q.model}"`;
    return new RouterError(GrpcStatus.RESOURCE_EXHAUSTED, `${what} is full (${this.maxQueue} calls waiting); retry in ${drainMs} ms`, 200, drainMs);
  }

  private queueOf(model: string): ModelQueue {
    let q = this.queues.get(model);
    if (q === undefined) {
      q = { model, order: new DeficitRoundRobin<Waiter>(), waiting: 0, inRing: false };
      this.queues.set(model, q);
    }
    return q;
  }
}
