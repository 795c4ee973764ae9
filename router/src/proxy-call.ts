/**
 * One proxied gRPC call: a client stream on the router's HTTP/2 server joined to a stream on the
 * chosen backend's pooled connection. Messages are forwarded as bytes. The router reads only
 * what it must: the gRPC message prefixes (to find message boundaries), `truncation_direction`
 * of requests that have it (TEI aborts on other values), and, for multiplexer calls, fields 1
 * and 2 of the wrapper (the target, and the TEI request that is re-framed and sent on).
 * Responses are TEI's own bytes, passed through with two headers added.
 * Stream events are wired in call-events.ts.
 */
import {
  constants as h2,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import { performance } from "node:perf_hooks";
import { FrameReader } from "./grpc-frame.ts";
import {
  GrpcStatus,
  parseGrpcStatus,
  RouterError,
  statusFromHttpStatus,
  statusFromRstCode,
  type GrpcStatusCode,
} from "./grpc-status.ts";
import type { MethodSpec } from "./method-table.ts";
import type { ProxyContext } from "./proxy-context.ts";
import type { Replica } from "./route-table.ts";
import { sendStatus, statusTrailers } from "./status-response.ts";
import {
  bindBackend,
  bindClientBody,
  bindClientClose,
  resumeBackendOnDrain,
  resumeClientOnDrain,
  type CallEvents,
} from "./call-events.ts";
import { backendRequestHeaders } from "./forward-headers.ts";
import { checkPlainRequest, unwrapMuxRequest } from "./request-message.ts";
import { targetFromHeaders, type Target } from "./target.ts";

const WAIT_FOR_TRAILERS = { waitForTrailers: true } as const;
const END_STREAM = { endStream: true } as const;

/** Starts proxying a call whose method is known and whose content-type is gRPC. */
export function startCall(ctx: ProxyContext, down: ServerHttp2Stream, headers: IncomingHttpHeaders, method: MethodSpec): void {
  new ProxyCall(ctx, down, headers, method).start();
}

class ProxyCall implements CallEvents {
  readonly ctx: ProxyContext;
  readonly down: ServerHttp2Stream;
  readonly method: MethodSpec;
  readonly inHeaders: IncomingHttpHeaders;
  readonly reader: FrameReader;
  readonly started = performance.now();
  target: Target | null = null;
  replica: Replica | null = null;
  up: ClientHttp2Stream | null = null;
  /** The single (already unwrapped/validated) request of a unary call, kept for a retry. */
  unaryFrame: Buffer | null = null;
  messages = 0;
  attempts = 0;
  /** The backend answered with response headers on the current attempt. */
  gotResponse = false;
  /** The backend's response ended normally on the current attempt. */
  upEnded = false;
  /** Response headers were sent to the client (trailers, not a trailers-only answer, follow). */
  responded = false;
  /** A unary call's response headers and message, held until the backend's stream ends. */
  heldHeaders: OutgoingHttpHeaders | null = null;
  heldBody: Buffer | null = null;
  /** Trailers to send when the client stream asks for them. */
  trailers: OutgoingHttpHeaders | null = null;
  /** Status of the call as recorded in metrics. */
  code: GrpcStatusCode = GrpcStatus.OK;
  done = false;
  upError: Error | null = null;

  constructor(ctx: ProxyContext, down: ServerHttp2Stream, headers: IncomingHttpHeaders, method: MethodSpec) {
    this.ctx = ctx;
    this.down = down;
    this.inHeaders = headers;
    this.method = method;
    this.reader = new FrameReader(ctx.maxMessageBytes);
  }

  start(): void {
    this.ctx.metrics.inFlight.inc();
    bindClientClose(this);
    if (!this.method.mux) {
      try {
        this.target = targetFromHeaders(this.inHeaders);
        this.replica = this.ctx.table.resolve(this.target);
      } catch (err) {
        this.fail(err);
        return;
      }
    }
    bindClientBody(this);
  }

  // ---- request direction ----

  onRequestData(chunk: Buffer): void {
    if (this.done) return;
    this.reader.push(chunk);
    try {
      let frame: Buffer | null;
      while ((frame = this.reader.read()) !== null) {
        this.onRequestMessage(frame);
        if (this.done) return;
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private onRequestMessage(frame: Buffer): void {
    this.messages++;
    if (this.method.kind === "unary") {
      if (this.messages > 1) throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "unary call with more than one request message");
      this.unaryFrame = this.prepare(frame);
      return;
    }
    const out = this.prepare(frame);
    if (this.up === null) this.openUpstream();
    const up = this.up as ClientHttp2Stream;
    if (!up.write(out)) {
      // Backpressure: stop reading the client until the backend stream drains.
      this.down.pause();
      resumeClientOnDrain(up);
    }
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
      this.fail(new RouterError(GrpcStatus.INTERNAL, `request ended inside a message (${this.reader.buffered} bytes of an incomplete message)`));
      return;
    }
    if (this.method.kind === "unary") {
      if (this.unaryFrame === null) {
        this.fail(new RouterError(GrpcStatus.INVALID_ARGUMENT, "unary call ended without a request message"));
        return;
      }
      this.openUpstream();
      (this.up as ClientHttp2Stream).end(this.unaryFrame);
      return;
    }
    if (this.messages === 0) {
      if (this.method.refuseEmptyStream) {
        this.fail(new RouterError(
          GrpcStatus.INVALID_ARGUMENT,
          this.method.mux
            ? "empty stream: the first message must carry the target"
            : "RerankStream needs at least one message (TEI aborts on an empty one)",
        ));
        return;
      }
      this.openUpstream();
    }
    (this.up as ClientHttp2Stream).end();
  }

  /** Opens the backend stream of the current attempt on the replica's pooled connection. */
  private openUpstream(): void {
    const r = this.replica as Replica;
    this.attempts++;
    this.gotResponse = false;
    this.upEnded = false;
    this.upError = null;
    this.heldHeaders = null;
    this.heldBody = null;
    let up: ClientHttp2Stream;
    try {
      up = this.ctx.pool.forReplica(r).request(backendRequestHeaders(this.inHeaders, this.method.upstreamPath, r.address));
    } catch (err) {
      throw new RouterError(GrpcStatus.UNAVAILABLE, `backend ${r.address} unavailable: ${(err as Error).message}`);
    }
    this.up = up;
    bindBackend(this, up);
  }

  // ---- response direction ----

  onResponse(headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
    this.gotResponse = true;
    const r = this.replica as Replica;
    const httpStatus = headers[":status"] ?? 0;
    const grpcStatus = headers["grpc-status"];
    if (grpcStatus !== undefined || httpStatus !== 200) {
      // Trailers-only: the whole answer is this HEADERS frame (typically an error status).
      const code = grpcStatus !== undefined ? parseGrpcStatus(grpcStatus) : statusFromHttpStatus(httpStatus);
      if (code === GrpcStatus.UNAVAILABLE) {
        this.ctx.outliers.failure(r, "UNAVAILABLE");
        if (this.retry()) return;
      } else {
        this.ctx.outliers.success(r);
      }
      if (grpcStatus === undefined) {
        (this.up as ClientHttp2Stream).close(h2.NGHTTP2_CANCEL);
        this.fail(new RouterError(code as GrpcStatusCode, `backend ${r.address} answered HTTP ${httpStatus}`));
        return;
      }
      headers["x-tei-instance"] = r.instanceName;
      headers["x-tei-node"] = r.node;
      if (!this.down.closed) this.down.respond(headers, END_STREAM);
      this.finish(code as GrpcStatusCode);
      return;
    }
    headers["x-tei-instance"] = r.instanceName;
    headers["x-tei-node"] = r.node;
    if (this.method.kind === "unary") {
      // A unary answer is held whole (headers, its one message, trailers) and sent in one go
      // when the backend's stream ends: one write to the client instead of two, and a backend
      // that answers headers + UNAVAILABLE trailers with no message can still be retried.
      this.heldHeaders = headers;
      return;
    }
    this.ctx.outliers.success(r);
    this.responded = true;
    this.down.respond(headers, WAIT_FOR_TRAILERS);
  }

  onResponseData(chunk: Buffer): void {
    if (this.heldHeaders !== null) {
      const held = this.heldBody;
      this.heldBody = held === null ? chunk : Buffer.concat([held, chunk]);
      return;
    }
    const down = this.down;
    if (!down.write(chunk)) {
      (this.up as ClientHttp2Stream).pause();
      resumeBackendOnDrain(down);
    }
  }

  onTrailers(trailers: IncomingHttpHeaders): void {
    const code = parseGrpcStatus(trailers["grpc-status"]);
    const r = this.replica as Replica;
    if (code === GrpcStatus.UNAVAILABLE) {
      this.ctx.outliers.failure(r, "UNAVAILABLE");
      if (this.heldHeaders !== null && this.heldBody === null && this.retry()) return;
    } else if (this.heldHeaders !== null) {
      this.ctx.outliers.success(r);
    }
    this.code = code as GrpcStatusCode;
    this.trailers = trailers;
  }

  onResponseEnd(): void {
    // A backend stream torn down before it answered also ends; its 'close' decides what
    // happens (retry or UNAVAILABLE), so this is not a normal end.
    if (!this.gotResponse) return;
    this.upEnded = true;
    if (this.done) return; // trailers-only answers end here too
    if (this.trailers === null) {
      this.trailers = statusTrailers(GrpcStatus.INTERNAL, "backend ended its response without a gRPC status");
      this.code = GrpcStatus.INTERNAL;
    }
    const down = this.down;
    if (down.closed) return;
    const held = this.heldHeaders;
    if (held !== null) {
      // respond + end in the same tick: headers, message and (from wantTrailers) trailers
      // leave in one write.
      this.heldHeaders = null;
      this.responded = true;
      down.respond(held, WAIT_FOR_TRAILERS);
      const body = this.heldBody;
      this.heldBody = null;
      if (body === null) down.end();
      else down.end(body);
      return;
    }
    if (!down.writableEnded) down.end();
  }

  onUpstreamClose(up: ClientHttp2Stream): void {
    if (this.done || this.upEnded) return;
    const r = this.replica as Replica;
    if (!this.gotResponse || this.heldHeaders !== null) {
      // Nothing reached the client: the connection failed, the backend refused the stream, or
      // it died in the middle of a unary answer that the router was still holding.
      this.ctx.outliers.failure(r, this.upError?.message ?? "connection failed");
      if (this.retry()) return;
      const why = this.upError?.message ?? `stream reset (code ${up.rstCode})`;
      this.fail(new RouterError(GrpcStatus.UNAVAILABLE, `backend ${r.instanceName} at ${r.address} unavailable: ${why}`));
      return;
    }
    this.fail(new RouterError(statusFromRstCode(up.rstCode), `backend ${r.address} reset the stream (HTTP/2 code ${up.rstCode})`));
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
    if (old !== null && !old.closed) old.close(h2.NGHTTP2_CANCEL);
    this.replica = alt;
    try {
      this.openUpstream();
    } catch {
      return false;
    }
    (this.up as ClientHttp2Stream).end(this.unaryFrame);
    return true;
  }

  // ---- ending ----

  /** Sends the trailers once the response body has been flushed to the client. */
  onWantTrailers(): void {
    const t = this.trailers ?? statusTrailers(GrpcStatus.INTERNAL, "response ended without a status");
    this.down.sendTrailers(t);
    this.finish(this.code);
  }

  /** Ends the call with a status of the router's own, whatever state it is in. */
  fail(err: unknown): void {
    if (this.done) return;
    const e = err instanceof RouterError ? err : new RouterError(GrpcStatus.INTERNAL, "router error");
    if (!(err instanceof RouterError)) this.ctx.log.error({ err }, "unexpected error while proxying");
    const up = this.up;
    if (up !== null && !up.closed) up.close(h2.NGHTTP2_CANCEL);
    if (!this.responded) {
      sendStatus(this.down, e.code, e.message, this.replica);
      this.finish(e.code);
      return;
    }
    // Headers already went out: the status travels in the trailers.
    this.trailers = statusTrailers(e.code, e.message);
    this.code = e.code;
    const down = this.down;
    if (!down.writableEnded && !down.closed) down.end();
    else if (down.closed) this.finish(e.code);
    if (!down.readableEnded) down.resume();
  }

  /** The client went away (cancel, reset, lost connection): free the backend stream. */
  onClientClose(): void {
    if (this.done) return;
    const up = this.up;
    if (up !== null && !up.closed) up.close(h2.NGHTTP2_CANCEL);
    this.finish(GrpcStatus.CANCELLED);
  }

  private finish(code: GrpcStatusCode): void {
    if (this.done) return;
    this.done = true;
    const metrics = this.ctx.metrics;
    metrics.record(metrics.forCall(this.replica, this.method), code, (performance.now() - this.started) / 1000);
    metrics.inFlight.dec();
  }
}

