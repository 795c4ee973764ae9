/**
 * Runs the gRPC calls of one HTTP request: one unary TEI call per input (or per chunk, for
 * Rerank), each a {@link BackendAttempt} of the router's own, so a gateway call is routed,
 * balanced, retried once on another replica and counted for outlier ejection exactly as a gRPC
 * client's call is. Calls are sent in parallel up to a window (a batch wider than the fleet
 * takes must not trip TEI's permits, which unary calls take without waiting) and their answers
 * kept by position, so a request's inputs come back in order whichever replica answered each.
 * The first failure (after the attempt's own retry) fails the request and cancels the rest,
 * as TEI fails a whole batch. With tracing on, each call is a CLIENT span of the request's, ended
 * with its status (a cancelled call CANCELLED), and TEI gets that span's `traceparent`.
 */
import type { SpareSlots } from "../admission/fair-queue.ts";
import { decodeGrpcMessage, GrpcStatus, type GrpcStatusCode, type RouterError } from "../grpc/grpc-status.ts";
import { headerValue } from "../h2/index.ts";
import type { AttemptContext, AttemptListener } from "../proxy/attempt-contract.ts";
import { BackendAttempt } from "../proxy/backend-attempt.ts";
import type { Replica } from "../routing/replica.ts";
import type { MethodSpec } from "../tei/method-table.ts";
import type { Target } from "../tei/target.ts";
import type { CallSpan, RequestSpan } from "../tracing/request-tracer.ts";
import { traceContextInHeaders, withOwnTraceparent } from "../tracing/w3c-trace-context.ts";
import { fromGrpcStatus, type GatewayError } from "./gateway-error.ts";
import { unframe } from "./grpc-response.ts";

/** The most distinct replicas a batch names in `x-tei-instance` / `x-tei-node`. */
const MAX_SERVED_BY = 8;

/** One call of a batch: the listener of its attempt. */
class SlotCall implements AttemptListener {
  readonly attempt: BackendAttempt;
  private readonly batch: TeiBatch;
  private readonly slot: number;
  /** Its span (tracing on) until it ends; null with tracing off. */
  private span: CallSpan | null;

  constructor(batch: TeiBatch, slot: number, o: BatchOptions) {
    this.batch = batch;
    this.slot = slot;
    const trace = o.trace;
    this.span = trace == null ? null : trace.startCall(o.method.name);
    // TEI gets the call's span as parent, with the client's tracestate as it came.
    const headers = this.span === null ? o.headers : withOwnTraceparent(o.headers, this.span.traceparent, traceContextInHeaders(o.headers).tracestate);
    this.attempt = new BackendAttempt(o.ctx, o.method, headers, o.startedAt, this);
  }

  /** Chooses its replica (see BackendAttempt.route). */
  route(target: Target): void {
    this.attempt.route(target);
  }

  /** @internal Ends its span, if any, with the call's status. */
  endSpan(code: number, message: string): void {
    const s = this.span;
    if (s === null) return;
    this.span = null;
    s.end({ code, message, replica: this.attempt.replica, retried: this.attempt.moved });
  }

  onAttemptHeaders(): void {}
  onAttemptData(): boolean {
    return true;
  }
  onAttemptDrain(): void {}

  onAttemptEnd(_headers: string[] | null, body: Buffer | null, trailers: string[], code: GrpcStatusCode): void {
    if (code !== GrpcStatus.OK) {
      const message = decodeGrpcMessage(headerValue(trailers, "grpc-message"));
      this.endSpan(code, message);
      this.batch.failed(this.slot, fromGrpcStatus(code, message), this.attempt.replica);
      return;
    }
    let msg: Buffer;
    try {
      msg = unframe(body);
    } catch (err) {
      // TEI said OK, but its answer is unreadable: the call failed, on the router's side.
      this.endSpan(GrpcStatus.INTERNAL, (err as Error).message);
      this.batch.failed(this.slot, err as GatewayError, this.attempt.replica);
      return;
    }
    this.endSpan(GrpcStatus.OK, "");
    this.batch.answered(this.slot, msg, this.attempt.replica);
  }

  onAttemptError(err: RouterError): void {
    this.endSpan(err.code, err.message);
    this.batch.failed(this.slot, fromGrpcStatus(err.code, err.message, err.retryAfterMs), this.attempt.replica);
  }
}

/** Options of one batch. */
export interface BatchOptions {
  /** The router's parts an attempt uses. */
  ctx: AttemptContext;
  /** The unary TEI method every call of the batch makes. */
  method: MethodSpec;
  /** Where the calls go (a model's replicas, or an instance's). */
  target: Target;
  /** Metadata of every call: content-type, and a `traceparent` when the client sent one. */
  headers: readonly string[];
  /** The request's start (performance.now() ms). */
  startedAt: number;
  /** Calls in flight at most. */
  window: number;
  /**
   * The router's in-flight slots (its fair queue), when it has a limit: the request holds one,
   * and each call beyond the first in flight at once takes a spare one while any is free and no
   * call waits, given back as it ends, so the limit counts calls with TEI whichever surface sent
   * them. Default none: `window` alone bounds the calls.
   */
  spare?: SpareSlots | null;
  /** The request's span (tracing on): each call is a child span of it. Default none. */
  trace?: RequestSpan | null;
  /**
   * Keep going when a call fails: its error goes to `errors[slot]` and the others still run
   * (EmbedArrow's per-row errors). Unset: the first failure fails the batch.
   */
  perCallErrors?: boolean;
}

/**
 * The calls of one request, one framed request message each. `onDone` runs once, when every
 * call answered (`error` null, `answers` complete) or the first failed (`error` set).
 */
export class TeiBatch {
  /** The protobuf message of each call's answer, by position. */
  readonly answers: Buffer[];
  /** The failure that ended the batch, or null. */
  error: GatewayError | null = null;
  /** With `perCallErrors`: each failed call's error by position (null where it answered). */
  errors: (GatewayError | null)[] | null = null;
  /** The replicas that answered (first few, distinct). */
  readonly servedBy: Replica[] = [];
  private readonly o: BatchOptions;
  private readonly frames: readonly Buffer[];
  private readonly calls: (SlotCall | null)[];
  private readonly onDone: (b: TeiBatch) => void;
  private next = 0;
  private pending: number;
  private done = false;
  /** Calls launched and not yet ended. */
  private running = 0;
  /** Spare slots held (see BatchOptions.spare): the request's own slot carries one more call. */
  private spares = 0;

  constructor(o: BatchOptions, frames: readonly Buffer[], onDone: (b: TeiBatch) => void) {
    this.o = o;
    this.frames = frames;
    this.onDone = onDone;
    this.answers = new Array(frames.length);
    this.calls = new Array(frames.length).fill(null);
    this.pending = frames.length;
  }

  /** Sends the first window of calls (the rest follow as answers come). */
  start(): void {
    if (this.pending === 0) {
      this.finish();
      return;
    }
    const first = Math.min(this.o.window, this.frames.length);
    while (this.next < first && !this.done && this.hasSlot()) this.launch(this.next++);
  }

  /** Whether one more call may start now: the request's own slot is free, or a spare one was taken. */
  private hasSlot(): boolean {
    const spare = this.o.spare;
    if (spare == null || this.running < 1 + this.spares) return true;
    if (!spare.takeSpare()) return false;
    this.spares++;
    return true;
  }

  /** A call ended: one slot fewer is needed, so a spare one (if held) goes back, to a waiting call first. */
  private callEnded(): void {
    this.running--;
    if (this.spares > 0) {
      this.spares--;
      this.o.spare?.giveSpare();
    }
  }

  /** The batch is over: every spare slot still held goes back. */
  private releaseSpares(): void {
    const spare = this.o.spare;
    for (; this.spares > 0; this.spares--) spare?.giveSpare();
  }

  /** Ends every call still open (the client left, or another call failed the batch). */
  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.releaseSpares();
    for (const c of this.calls) {
      if (c === null) continue;
      c.attempt.cancel();
      c.endSpan(GrpcStatus.CANCELLED, "cancelled");
    }
  }

  private launch(slot: number): void {
    const o = this.o;
    const call = new SlotCall(this, slot, o);
    this.calls[slot] = call;
    this.running++;
    try {
      call.route(o.target);
    } catch (err) {
      const e = err as { code: number; message: string };
      const code = e.code ?? GrpcStatus.INTERNAL;
      call.endSpan(code, e.message);
      this.failed(slot, fromGrpcStatus(code, e.message), null);
      return;
    }
    call.attempt.sendUnary(this.frames[slot] as Buffer);
  }

  private launchNext(): void {
    if (!this.done && this.next < this.frames.length && this.hasSlot()) this.launch(this.next++);
  }

  /** @internal A call answered OK. */
  answered(slot: number, msg: Buffer, replica: Replica | null): void {
    if (this.done) return;
    this.calls[slot] = null;
    this.callEnded();
    this.answers[slot] = msg;
    if (replica !== null) this.noteServedBy(replica);
    if (--this.pending === 0) {
      this.finish();
      return;
    }
    this.launchNext();
  }

  /** @internal A call failed: the batch fails with it. */
  failed(slot: number, err: GatewayError, replica: Replica | null): void {
    if (this.done) return;
    this.calls[slot] = null;
    this.callEnded();
    if (replica !== null) this.noteServedBy(replica);
    if (this.o.perCallErrors === true) {
      (this.errors ??= new Array(this.frames.length).fill(null))[slot] = err;
      if (--this.pending === 0) this.finish();
      // Not launched from here: a call that fails while launching would recurse once per input.
      else if (this.next < this.frames.length) queueMicrotask(() => this.launchNext());
      return;
    }
    this.error = err;
    this.cancel();
    this.onDone(this);
  }

  private noteServedBy(r: Replica): void {
    const s = this.servedBy;
    if (s.length >= MAX_SERVED_BY) return;
    for (let i = 0; i < s.length; i++) if (s[i] === r) return;
    s.push(r);
  }

  private finish(): void {
    this.done = true;
    this.releaseSpares();
    this.onDone(this);
  }
}
