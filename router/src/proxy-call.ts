/**
 * One proxied gRPC call: a client stream on the router's HTTP/2 server joined to a stream on the
 * chosen backend's pooled connection. Messages are forwarded as bytes. The router reads only
 * what it must: the gRPC message prefixes (to find message boundaries), `truncation_direction`
 * of requests that have it (TEI aborts on other values), and, for multiplexer calls, fields 1
 * and 2 of the wrapper (the target, and the TEI request that is re-framed and sent on).
 * Responses are TEI's own bytes, passed through with two headers added.
 *
 * The call is the handler of both of its streams (`down` toward the client, `up` toward TEI)
 * and relays flow control between them (credit-relay.ts).
 */
import { performance } from "node:perf_hooks";
import { FrameReader } from "./grpc-frame.ts";
import { GrpcStatus, parseGrpcStatus, RouterError, statusFromHttpStatus, statusFromRstCode, type GrpcStatusCode } from "./grpc-status.ts";
import { parseGrpcTimeout } from "./grpc-timeout.ts";
import { ErrorCode } from "./h2/frames.ts";
import { headerValue, type H2Stream, type StreamHandler } from "./h2/h2-stream.ts";
import type { MethodSpec } from "./method-table.ts";
import type { ProxyContext } from "./proxy-context.ts";
import type { Replica } from "./route-table.ts";
import { sendStatus, statusTrailers } from "./status-response.ts";
import { CreditRelay } from "./credit-relay.ts";
import { backendRequestHeaders } from "./forward-headers.ts";
import { checkPlainRequest, unwrapMuxRequest } from "./request-message.ts";
import { targetFromHeaders, type Target } from "./target.ts";

const EMPTY = Buffer.alloc(0);

/**
 * Starts proxying a call whose method is known and whose content-type is gRPC.
 * @param endStream - the request ended with its headers (no message at all)
 */
export function startCall(ctx: ProxyContext, down: H2Stream, headers: string[], method: MethodSpec, endStream: boolean): void {
  const call = new ProxyCall(ctx, down, headers, method);
  down.handler = call;
  call.start();
  if (endStream) call.onRequestEnd();
}

class ProxyCall implements StreamHandler {
  private readonly ctx: ProxyContext;
  private readonly down: H2Stream;
  private readonly method: MethodSpec;
  private readonly inHeaders: string[];
  private readonly reader: FrameReader;
  private readonly started = performance.now();
  private target: Target | null = null;
  private replica: Replica | null = null;
  private up: H2Stream | null = null;
  /** The single (already unwrapped/validated) request of a unary call, kept for a retry. */
  private unaryFrame: Buffer | null = null;
  private messages = 0;
  private attempts = 0;
  /** The backend answered with response headers on the current attempt. */
  private gotResponse = false;
  /** Response headers were sent to the client (so a later status goes in trailers). */
  private responded = false;
  /** A unary call's response headers and message, held until the backend's stream ends. */
  private heldHeaders: string[] | null = null;
  private heldBody: Buffer | null = null;
  /** Request bytes owed to the client until the backend takes them. */
  private readonly requestCredit = new CreditRelay();
  /** Response bytes owed to the backend until the client takes them. */
  private readonly responseCredit = new CreditRelay();
  private done = false;

  constructor(ctx: ProxyContext, down: H2Stream, headers: string[], method: MethodSpec) {
    this.ctx = ctx;
    this.down = down;
    this.inHeaders = headers;
    this.method = method;
    this.reader = new FrameReader(ctx.maxMessageBytes);
  }

  start(): void {
    this.ctx.metrics.inFlight.inc();
    if (this.method.mux) return;
    try {
      this.target = targetFromHeaders(this.inHeaders);
      this.replica = this.ctx.table.resolve(this.target);
    } catch (err) {
      this.fail(err);
    }
  }

  // ---- events of both streams ----

  onHeaders(stream: H2Stream, headers: string[], endStream: boolean): void {
    if (stream === this.down) {
      // Request trailers: gRPC clients send none; only their END_STREAM matters.
      if (endStream) this.onRequestEnd();
    } else if (stream === this.up && !this.done) {
      if (!this.gotResponse) this.onResponse(headers, endStream);
      else this.onTrailers(headers);
    }
  }

  onData(stream: H2Stream, data: Buffer, endStream: boolean): void {
    if (stream === this.down) {
      this.onRequestData(data);
      if (endStream) this.onRequestEnd();
    } else if (stream === this.up && !this.done) {
      this.onResponseData(data);
      if (endStream) this.onResponseEnd();
    } else {
      stream.conn.consume(stream, data.length); // a superseded attempt or a finished call
    }
  }

  onReset(stream: H2Stream, code: number, reason: string, byPeer: boolean): void {
    if (stream === this.down) this.onClientGone();
    else if (stream === this.up) this.onUpstreamReset(code, reason, byPeer);
  }

  onDrain(stream: H2Stream): void {
    if (stream === this.down) this.responseCredit.release(this.up);
    else if (stream === this.up) this.requestCredit.release(this.down);
  }

  // ---- request direction ----

  private onRequestData(chunk: Buffer): void {
    if (this.done) {
      this.down.conn.consume(this.down, chunk.length); // discarded after the call ended
      return;
    }
    this.reader.push(chunk);
    let backendBehind = false;
    try {
      let frame: Buffer | null;
      while ((frame = this.reader.read()) !== null) {
        if (!this.onRequestMessage(frame)) backendBehind = true;
        if (this.done) break;
      }
    } catch (err) {
      this.fail(err);
    }
    this.requestCredit.passed(this.down, chunk.length, !backendBehind || this.done);
  }

  /** Handles one request message; false when the backend could not take it all yet. */
  private onRequestMessage(frame: Buffer): boolean {
    this.messages++;
    if (this.method.kind === "unary") {
      if (this.messages > 1) throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "unary call with more than one request message");
      this.unaryFrame = this.prepare(frame);
      return true;
    }
    const out = this.prepare(frame);
    if (this.up === null) this.openUpstream();
    const up = this.up as H2Stream;
    return up.conn.sendData(up, out, false);
  }

  /** Validates one request message and turns it into the bytes TEI receives. */
  private prepare(frame: Buffer): Buffer {
    const m = this.method;
    if (!m.mux) {
      checkPlainRequest(m, frame);
      return frame;
    }
    const first = this.messages === 1;
    const u = unwrapMuxRequest(m, frame, first);
    if (first) {
      this.target = u.target;
      this.replica = this.ctx.table.resolve(u.target as Target);
    }
    return u.message;
  }

  onRequestEnd(): void {
    if (this.done) return;
    try {
      this.endRequest();
    } catch (err) {
      this.fail(err);
    }
  }

  private endRequest(): void {
    if (this.reader.buffered > 0) {
      throw new RouterError(GrpcStatus.INTERNAL, `request ended inside a message (${this.reader.buffered} bytes of an incomplete message)`);
    }
    if (this.method.kind === "unary") {
      if (this.unaryFrame === null) throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "unary call ended without a request message");
      this.openUpstream();
      const up = this.up as H2Stream;
      up.conn.sendData(up, this.unaryFrame, true);
      return;
    }
    if (this.messages === 0) {
      if (this.method.refuseEmptyStream) {
        throw new RouterError(
          GrpcStatus.INVALID_ARGUMENT,
          this.method.mux
            ? "empty stream: the first message must carry the target"
            : "RerankStream needs at least one message (TEI aborts on an empty one)",
        );
      }
      this.openUpstream();
    }
    const up = this.up as H2Stream;
    up.conn.sendData(up, EMPTY, true);
  }

  /** Opens the backend stream of the current attempt on the replica's pooled connection. */
  private openUpstream(): void {
    const r = this.replica as Replica;
    this.attempts++;
    this.gotResponse = false;
    this.heldHeaders = null;
    this.heldBody = null;
    let remainingMs: number | undefined;
    // Only a retry needs the caller's deadline (grpc-timeout, counted from `started`): the first
    // attempt forwards the header as it came, so the common path parses nothing.
    const timeoutMs = this.attempts > 1 ? parseGrpcTimeout(headerValue(this.inHeaders, "grpc-timeout")) : undefined;
    if (timeoutMs !== undefined) {
      remainingMs = timeoutMs - (performance.now() - this.started);
      if (remainingMs <= 0) throw new RouterError(GrpcStatus.DEADLINE_EXCEEDED, "deadline exceeded before the call could be retried");
    }
    for (let candidate = r; ; ) {
      try {
        this.up = this.ctx.pool.forReplica(candidate).request(backendRequestHeaders(this.inHeaders, this.method.upstreamPath, candidate.address, remainingMs), this);
        return;
      } catch (err) {
        // The replica left the route table after this call chose it (a drain, a lost node):
        // nothing was sent yet, so another ready replica of the same target takes the call, once.
        const alt = candidate === r && this.target !== null ? this.ctx.table.alternative(r, this.target) : null;
        if (alt === null) throw new RouterError(GrpcStatus.UNAVAILABLE, `backend ${candidate.address} unavailable: ${(err as Error).message}`);
        candidate = this.replica = alt;
      }
    }
  }

  // ---- response direction ----

  private onResponse(headers: string[], endStream: boolean): void {
    this.gotResponse = true;
    const r = this.replica as Replica;
    const httpStatus = Number(headerValue(headers, ":status") ?? 0);
    const grpcStatus = headerValue(headers, "grpc-status");
    if (grpcStatus !== undefined || httpStatus !== 200 || endStream) {
      // Trailers-only: the whole answer is this HEADERS frame (typically an error status).
      const code = grpcStatus !== undefined ? parseGrpcStatus(grpcStatus) : httpStatus !== 200 ? statusFromHttpStatus(httpStatus) : GrpcStatus.INTERNAL;
      if (code === GrpcStatus.UNAVAILABLE) {
        this.ctx.outliers.failure(r, "UNAVAILABLE");
        if (this.retry()) return;
      } else {
        this.ctx.outliers.success(r);
      }
      if (grpcStatus === undefined) {
        const up = this.up as H2Stream;
        up.conn.reset(up, ErrorCode.CANCEL);
        this.fail(new RouterError(code as GrpcStatusCode, `backend ${r.address} answered HTTP ${httpStatus} without a gRPC status`));
        return;
      }
      headers.push("x-tei-instance", r.instanceName, "x-tei-node", r.node);
      this.down.conn.sendHeaders(this.down, headers, true);
      this.finish(code as GrpcStatusCode);
      return;
    }
    headers.push("x-tei-instance", r.instanceName, "x-tei-node", r.node);
    if (this.method.kind === "unary") {
      // A unary answer is held whole (headers, its one message, trailers) and sent in one go
      // when the backend's stream ends: a backend that answers headers + UNAVAILABLE trailers
      // with no message can still be retried.
      this.heldHeaders = headers;
      return;
    }
    this.ctx.outliers.success(r);
    this.responded = true;
    this.down.conn.sendHeaders(this.down, headers, false);
  }

  private onResponseData(chunk: Buffer): void {
    const up = this.up as H2Stream;
    if (this.heldHeaders !== null) {
      const held = this.heldBody;
      this.heldBody = held === null ? chunk : Buffer.concat([held, chunk]);
      up.conn.consume(up, chunk.length);
      return;
    }
    if (!this.responded) {
      up.conn.consume(up, chunk.length);
      this.fail(new RouterError(GrpcStatus.INTERNAL, "backend sent a message before its response headers"));
      return;
    }
    this.responseCredit.passed(up, chunk.length, this.down.conn.sendData(this.down, chunk, false));
  }

  private onTrailers(trailers: string[]): void {
    const code = parseGrpcStatus(headerValue(trailers, "grpc-status")) as GrpcStatusCode;
    const r = this.replica as Replica;
    if (code === GrpcStatus.UNAVAILABLE) {
      this.ctx.outliers.failure(r, "UNAVAILABLE");
      if (this.heldHeaders !== null && this.heldBody === null && this.retry()) return;
    } else if (this.heldHeaders !== null) {
      this.ctx.outliers.success(r);
    }
    this.sendResponseEnd(trailers, code);
  }

  /** The backend's stream ended on a DATA frame, without trailers. */
  private onResponseEnd(): void {
    if (this.done) return;
    this.sendResponseEnd(statusTrailers(GrpcStatus.INTERNAL, "backend ended its response without a gRPC status"), GrpcStatus.INTERNAL);
  }

  /** Sends what is held (a unary answer) and the trailers, and ends the call. */
  private sendResponseEnd(trailers: string[], code: GrpcStatusCode): void {
    const down = this.down;
    const held = this.heldHeaders;
    if (held !== null) {
      this.heldHeaders = null;
      this.responded = true;
      down.conn.sendHeaders(down, held, false);
      const body = this.heldBody;
      this.heldBody = null;
      if (body !== null) down.conn.sendData(down, body, false);
    }
    down.conn.sendHeaders(down, trailers, true);
    this.finish(code);
  }

  private onUpstreamReset(code: number, reason: string, byPeer: boolean): void {
    if (this.done) return;
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
      // Nothing reached the client: the connection failed, the backend refused the stream, or
      // it died in the middle of a unary answer that the router was still holding.
      this.ctx.outliers.failure(r, reason);
      if (this.retry()) return;
      this.fail(new RouterError(GrpcStatus.UNAVAILABLE, `backend ${r.instanceName} at ${r.address} unavailable: ${reason}`));
      return;
    }
    this.fail(new RouterError(statusFromRstCode(code), `backend ${r.address} reset the stream (HTTP/2 code ${code})`));
  }

  /**
   * Retries a unary call once on another ready replica of the same model when its attempt
   * failed before any response byte. Returns false when no retry is possible.
   */
  private retry(): boolean {
    if (this.method.kind !== "unary" || this.attempts >= 2 || this.target === null || this.down.closed) return false;
    const alt = this.ctx.table.alternative(this.replica as Replica, this.target);
    if (alt === null) return false;
    this.ctx.metrics.retried(alt.modelId);
    const old = this.up;
    if (old !== null) old.conn.reset(old, ErrorCode.CANCEL);
    this.replica = alt;
    try {
      this.openUpstream();
    } catch (err) {
      this.fail(err);
      return true;
    }
    const up = this.up as H2Stream;
    up.conn.sendData(up, this.unaryFrame as Buffer, true);
    return true;
  }

  // ---- ending ----

  /** Ends the call with a status of the router's own, whatever state it is in. */
  private fail(err: unknown): void {
    if (this.done) return;
    const e = err instanceof RouterError ? err : new RouterError(GrpcStatus.INTERNAL, "router error");
    if (!(err instanceof RouterError)) this.ctx.log.error({ err }, "unexpected error while proxying");
    const up = this.up;
    if (up !== null) up.conn.reset(up, ErrorCode.CANCEL);
    if (!this.responded) sendStatus(this.down, e.code, e.message, this.replica);
    else this.down.conn.sendHeaders(this.down, statusTrailers(e.code, e.message), true);
    this.finish(e.code);
  }

  /** The client went away (cancel, reset, lost connection): free the backend stream. */
  private onClientGone(): void {
    if (this.done) return;
    const up = this.up;
    if (up !== null) up.conn.reset(up, ErrorCode.CANCEL);
    this.finish(GrpcStatus.CANCELLED);
  }

  private finish(code: GrpcStatusCode): void {
    if (this.done) return;
    this.done = true;
    // A backend that answered before the request ended still has our half open: free it.
    const up = this.up;
    if (up !== null) up.conn.reset(up, ErrorCode.CANCEL);
    // Request bytes held back while the backend was behind are no longer owed to anyone.
    this.requestCredit.release(this.down);
    const metrics = this.ctx.metrics;
    metrics.record(metrics.forCall(this.replica, this.method), code, (performance.now() - this.started) / 1000);
    metrics.inFlight.dec();
  }
}
