/**
 * The backend side of one call, apart from whoever asked for it (a client's HTTP/2 stream in
 * proxy-call.ts; the HTTP gateway, which has none): the replica chosen for the call's target,
 * the stream on that replica's pooled connection, what the answer means, and the one retry a
 * unary call gets.
 *
 * What an answer means: a connection failure, a reset before any answer, or an UNAVAILABLE
 * status counts against the replica (outlier-detector.ts) and, for a unary call with nothing
 * sent on yet, moves the call to another ready replica of its target, once; any other answer
 * counts for it, and RESOURCE_EXHAUSTED moves the call too (the statuses' rule is
 * answer-verdict.ts). A backend's
 * PROTOCOL_ERROR reset says the request was malformed, which every
 * replica would say too: answered INTERNAL, neither retried nor counted. A unary answer is held
 * whole (headers, message, trailers) until the backend's stream ends, so a backend that answers
 * headers and then UNAVAILABLE trailers can still be retried; a streamed answer is passed on as
 * it comes, with flow control relayed (the backend is credited once the receiver took the bytes).
 *
 * The balancer is told when a stream opens on a replica and when it is over, so a load-aware
 * balancer can count what each replica carries.
 */
import { performance } from "node:perf_hooks";
import { GrpcStatus, type GrpcStatusCode, parseGrpcStatus, RouterError, statusFromHttpStatus, statusFromRstCode } from "../grpc/grpc-status.ts";
import { parseGrpcTimeout } from "../grpc/grpc-timeout.ts";
import { addServedBy, statusTrailers } from "../grpc/status-response.ts";
import { ErrorCode, type H2Stream, headerValue, type StreamHandler } from "../h2/index.ts";
import type { Balancer } from "../routing/balancer.ts";
import type { Replica } from "../routing/replica.ts";
import type { MethodSpec } from "../tei/method-table.ts";
import type { Target } from "../tei/target.ts";
import { countsAgainstReplica, movesToAnotherReplica } from "./answer-verdict.ts";
import type { AttemptContext, AttemptListener, CallAccount } from "./attempt-contract.ts";
import { CreditRelay } from "./credit-relay.ts";
import { backendRequestHeaders } from "./forward-headers.ts";

/**
 * One call's attempt on a backend, re-run once on another replica for a unary call that failed
 * before anything was answered. Use: `route(target)`, then `sendUnary(message)` or `send(...)`
 * per message; the listener hears the rest. The attempt is the handler of its backend stream.
 */
export class BackendAttempt implements StreamHandler {
  /** The replica serving the call (after a retry, the second one); null until `route()`. */
  replica: Replica | null = null;
  private readonly ctx: AttemptContext;
  private readonly balancer: Balancer;
  private readonly method: MethodSpec;
  private readonly headers: readonly string[];
  private readonly startedAt: number;
  private readonly listener: AttemptListener;
  private readonly account: CallAccount | null;
  private target: Target | null = null;
  /** The replica `route()` chose. */
  private routedTo: Replica | null = null;
  private up: H2Stream | null = null;
  /** The replica the balancer was told a call started on, until it is told the call ended. */
  private loaded: Replica | null = null;
  private attempts = 0;
  /** The backend answered with response headers on the current stream. */
  private gotResponse = false;
  /** A streamed answer's headers went to the listener (its data follows them). */
  private passing = false;
  /** A unary answer's headers and message, held until the backend's stream ends. */
  private heldHeaders: string[] | null = null;
  private heldBody: Buffer | null = null;
  /** A unary call's request message, kept for a retry. */
  private unaryFrame: Buffer | null = null;
  /** Response bytes owed to the backend until the receiver takes them. */
  private readonly responseCredit = new CreditRelay();
  private done = false;

  /**
   * @param method - what is called: its backend path, and whether it is unary (held, retried)
   * @param headers - the caller's request headers, flat [name, value, ...], names lowercase:
   *   forwarded as metadata (pseudo-headers, `host`, `te` and `content-length` are the router's
   *   own; a caller that is not a gRPC client includes `content-type: application/grpc`)
   * @param startedAt - when the call started (performance.now() ms): a retry gets what is left
   *   of the caller's `grpc-timeout` from then
   * @param account - the call's queue time to stamp on the answer and its token count to note
   *   (see {@link CallAccount}); default none
   */
  constructor(
    ctx: AttemptContext,
    method: MethodSpec,
    headers: readonly string[],
    startedAt: number,
    listener: AttemptListener,
    account: CallAccount | null = null,
  ) {
    this.ctx = ctx;
    this.balancer = ctx.table.balancer;
    this.method = method;
    this.headers = headers;
    this.startedAt = startedAt;
    this.listener = listener;
    this.account = account;
  }

  /**
   * Chooses the replica for `target` (the balancer's pick, or the index), before anything is sent.
   * @throws RouterError NOT_FOUND / UNAVAILABLE as RouteTable.resolve says
   */
  route(target: Target): void {
    this.target = target;
    this.replica = this.routedTo = this.ctx.table.resolve(target);
  }

  /** True when the call moved from the replica `route()` chose to another (a retry, or a replica gone before the send). */
  get moved(): boolean {
    return this.replica !== this.routedTo;
  }

  /** Sends a unary call's one request message (gRPC-framed) and ends the request. */
  sendUnary(frame: Buffer): void {
    this.unaryFrame = frame;
    if (this.done || !this.open()) return;
    const up = this.up as H2Stream;
    up.conn.sendData(up, frame, true);
  }

  /**
   * Sends request bytes of a streaming call (the stream opens with the first), `end` ending the
   * request. Returns false when the backend could not take them all yet (`onAttemptDrain`
   * follows). A failure to open reaches `onAttemptError`, before this returns.
   */
  send(data: Buffer, end: boolean): boolean {
    if (this.done || (this.up === null && !this.open())) return true;
    const up = this.up as H2Stream;
    return up.conn.sendData(up, data, end);
  }

  /** The receiver took everything it was given: credits the backend with what it was owed. */
  drained(): void {
    this.responseCredit.release(this.up);
  }

  /** Ends the attempt from the caller's side (the client left, or the call ended): frees the backend stream. */
  cancel(): void {
    if (!this.done) this.end();
  }

  // ---- the backend stream's events ----

  onHeaders(stream: H2Stream, headers: string[], endStream: boolean): void {
    if (stream !== this.up || this.done) return;
    if (!this.gotResponse) this.onResponse(headers, endStream);
    else this.onTrailers(headers);
  }

  onData(stream: H2Stream, data: Buffer, endStream: boolean): void {
    if (stream !== this.up || this.done) {
      stream.conn.consume(stream, data.length); // a superseded stream, or a finished call
      return;
    }
    this.onResponseData(stream, data);
    if (endStream && !this.done) this.onResponseEnd();
  }

  onReset(stream: H2Stream, code: number, reason: string, byPeer: boolean): void {
    if (stream === this.up && !this.done) this.onUpstreamReset(code, reason, byPeer);
  }

  onDrain(stream: H2Stream): void {
    if (stream === this.up && !this.done) this.listener.onAttemptDrain();
  }

  // ---- opening ----

  /** Opens the stream of the current attempt on the replica's pooled connection; false when it could not (the listener was told). */
  private open(): boolean {
    const r = this.replica;
    if (r === null) {
      this.fail(new RouterError(GrpcStatus.INTERNAL, "call sent before it was routed"));
      return false;
    }
    this.attempts++;
    this.gotResponse = false;
    this.heldHeaders = null;
    this.heldBody = null;
    let remainingMs: number | undefined;
    // Only a retry, and a call that waited in the fleet's queue, need the caller's deadline: the
    // first attempt of a call that went straight on forwards grpc-timeout as it came, so the
    // common path parses nothing.
    const waited = this.account !== null && this.account.queueMs > 0;
    const timeoutMs = this.attempts > 1 || waited ? parseGrpcTimeout(headerValue(this.headers, "grpc-timeout")) : undefined;
    if (timeoutMs !== undefined) {
      remainingMs = timeoutMs - (performance.now() - this.startedAt);
      if (remainingMs <= 0) {
        this.fail(new RouterError(GrpcStatus.DEADLINE_EXCEEDED, "deadline exceeded before the call could be retried"));
        return false;
      }
    }
    for (let candidate = r; ; ) {
      try {
        this.up = this.ctx.pool
          .forReplica(candidate)
          .request(
            backendRequestHeaders(this.headers, this.method.upstreamPath, candidate.address, remainingMs, this.ctx.withholdAuthorization === true),
            this,
          );
        this.loaded = candidate;
        this.balancer.onCallStart(candidate);
        return true;
      } catch (err) {
        // The replica left the route table after this call chose it (a drain, a lost node):
        // nothing was sent yet, so another ready replica of the same target takes the call, once.
        const alt = candidate === r && this.target !== null ? this.ctx.table.alternative(r, this.target) : null;
        if (alt === null) {
          this.fail(new RouterError(GrpcStatus.UNAVAILABLE, `backend ${candidate.address} unavailable: ${(err as Error).message}`));
          return false;
        }
        candidate = this.replica = alt;
      }
    }
  }

  /**
   * Moves a unary call that failed before any answer to another ready replica of its target,
   * once. Returns false when no retry is possible (the caller then ends the attempt).
   */
  private retry(): boolean {
    if (this.method.kind !== "unary" || this.attempts >= 2 || this.target === null || this.unaryFrame === null) return false;
    const alt = this.ctx.table.alternative(this.replica as Replica, this.target);
    if (alt === null) return false;
    this.ctx.metrics.retried(alt.modelId);
    this.release();
    this.replica = alt;
    if (this.open()) {
      const up = this.up as H2Stream;
      up.conn.sendData(up, this.unaryFrame, true);
    }
    return true;
  }

  // ---- the answer ----

  private onResponse(headers: string[], endStream: boolean): void {
    this.gotResponse = true;
    const r = this.replica as Replica;
    const httpStatus = Number(headerValue(headers, ":status") ?? 0);
    const grpcStatus = headerValue(headers, "grpc-status");
    if (grpcStatus !== undefined || httpStatus !== 200 || endStream) {
      // Trailers-only: the whole answer is this HEADERS frame (typically an error status).
      const code = grpcStatus !== undefined ? parseGrpcStatus(grpcStatus) : httpStatus !== 200 ? statusFromHttpStatus(httpStatus) : GrpcStatus.INTERNAL;
      if (this.judge(r, code as GrpcStatusCode, true, true)) return;
      if (grpcStatus === undefined) {
        this.fail(new RouterError(code as GrpcStatusCode, `backend ${r.address} answered HTTP ${httpStatus} without a gRPC status`));
        return;
      }
      this.stamp(headers, r);
      this.complete(null, null, headers, code as GrpcStatusCode);
      return;
    }
    this.stamp(headers, r);
    if (this.method.kind === "unary") {
      this.heldHeaders = headers;
      return;
    }
    this.ctx.outliers.success(r);
    this.passing = true;
    this.listener.onAttemptHeaders(headers);
  }

  private onResponseData(up: H2Stream, chunk: Buffer): void {
    if (this.heldHeaders !== null) {
      const held = this.heldBody;
      this.heldBody = held === null ? chunk : Buffer.concat([held, chunk]);
      up.conn.consume(up, chunk.length);
      return;
    }
    if (!this.passing) {
      up.conn.consume(up, chunk.length);
      this.fail(new RouterError(GrpcStatus.INTERNAL, "backend sent a message before its response headers"));
      return;
    }
    this.responseCredit.passed(up, chunk.length, this.listener.onAttemptData(chunk));
  }

  private onTrailers(trailers: string[]): void {
    const code = parseGrpcStatus(headerValue(trailers, "grpc-status")) as GrpcStatusCode;
    // A streamed answer counted for its replica at its headers; a held unary one counts now, and
    // moves while nothing of it was received but its headers.
    const held = this.heldHeaders !== null;
    if (this.judge(this.replica as Replica, code, held, held && this.heldBody === null)) return;
    this.complete(this.heldHeaders, this.heldBody, trailers, code);
  }

  /**
   * Counts a status against or for replica `r` (a success only when `countSuccess`) and moves the
   * call when the status says so and `mayMove`. Returns true when the call moved (a retry is on).
   */
  private judge(r: Replica, code: GrpcStatusCode, countSuccess: boolean, mayMove: boolean): boolean {
    if (countsAgainstReplica(code)) this.ctx.outliers.failure(r, "UNAVAILABLE");
    else if (countSuccess) this.ctx.outliers.success(r);
    return mayMove && movesToAnotherReplica(code) && this.retry();
  }

  /** The backend's stream ended on a DATA frame, without trailers. */
  private onResponseEnd(): void {
    const trailers = statusTrailers(GrpcStatus.INTERNAL, "backend ended its response without a gRPC status");
    this.complete(this.heldHeaders, this.heldBody, trailers, GrpcStatus.INTERNAL);
  }

  private onUpstreamReset(code: number, reason: string, byPeer: boolean): void {
    const r = this.replica as Replica;
    if (byPeer && code === ErrorCode.PROTOCOL_ERROR) {
      // The backend found the request malformed (RFC 9113 §8.1.1): it is up and answering, and
      // every other replica would refuse the same request, so this is neither a failure of the
      // backend nor worth a retry. (The router validates what it forwards, so this takes a
      // backend stricter than RFC 9113 or a router bug; either way the backend stays in rotation.)
      this.fail(new RouterError(GrpcStatus.INTERNAL, `backend ${r.instanceName} at ${r.address} refused the request as malformed (HTTP/2 PROTOCOL_ERROR)`));
      return;
    }
    if (!this.gotResponse || this.heldHeaders !== null) {
      // Nothing was passed on: the connection failed, the backend refused the stream, or it
      // died in the middle of a unary answer that was still held.
      this.ctx.outliers.failure(r, reason);
      if (this.retry()) return;
      this.fail(new RouterError(GrpcStatus.UNAVAILABLE, `backend ${r.instanceName} at ${r.address} unavailable: ${reason}`));
      return;
    }
    this.fail(new RouterError(statusFromRstCode(code), `backend ${r.address} reset the stream (HTTP/2 code ${code})`));
  }

  /** Names the replica on the answer's headers and, with an account, the fleet queue time; notes TEI's token count. */
  private stamp(headers: string[], r: Replica): void {
    addServedBy(headers, r);
    const a = this.account;
    if (a === null) return;
    const q = a.queueMs;
    if (q >= 0) headers.push("x-fleet-queue-time", q < 0.5 ? "0" : String(Math.round(q)));
    if (a.computeTokens === 0) {
      const n = Number(headerValue(headers, "x-compute-tokens"));
      if (n > 0) a.computeTokens = n;
    }
  }

  // ---- ending ----

  private complete(headers: string[] | null, body: Buffer | null, trailers: string[], code: GrpcStatusCode): void {
    this.heldHeaders = null;
    this.heldBody = null;
    this.end();
    this.listener.onAttemptEnd(headers, body, trailers, code);
  }

  private fail(err: RouterError): void {
    if (this.done) return;
    this.end();
    this.listener.onAttemptError(err);
  }

  private end(): void {
    this.done = true;
    this.release();
  }

  /**
   * Frees the current stream: resets it unless it is closed already (a backend that answered
   * before the request ended still has the router's half open), and tells the balancer.
   */
  private release(): void {
    const up = this.up;
    if (up !== null) up.conn.reset(up, ErrorCode.CANCEL);
    const r = this.loaded;
    if (r !== null) {
      this.loaded = null;
      this.balancer.onCallEnd(r);
    }
  }
}
