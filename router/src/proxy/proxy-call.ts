/**
 * One proxied gRPC call, the client's side: the stream on the router's HTTP/2 server, joined to
 * a backend attempt (backend-attempt.ts) that holds the stream on the chosen backend. Messages
 * are forwarded as bytes. The router reads only what it must: the gRPC message prefixes (to find
 * message boundaries), `truncation_direction` of requests that have it (TEI aborts on other
 * values), and, for multiplexer calls, fields 1 and 2 of the wrapper (the target, and the TEI
 * request that is re-framed and sent on). Responses are TEI's own bytes, passed through with two
 * headers added.
 *
 * The call is the handler of the client stream and the listener of its attempt, and relays
 * flow control: request bytes are credited to the client once the backend took them
 * (credit-relay.ts), response bytes to the backend once the client took them (in the attempt).
 */
import { performance } from "node:perf_hooks";
import { type AdmissionCall, endCall } from "../admission/admission.ts";
import { FrameReader } from "../grpc/grpc-frame.ts";
import { decodeGrpcMessage, GrpcStatus, type GrpcStatusCode, RouterError } from "../grpc/grpc-status.ts";
import { sendStatus, statusTrailers } from "../grpc/status-response.ts";
import { type H2Stream, headerValue, type StreamHandler } from "../h2/index.ts";
import type { MethodSpec } from "../tei/method-table.ts";
import { checkPlainRequest, unwrapMuxRequest } from "../tei/request-message.ts";
import type { Target } from "../tei/target.ts";
import type { GrpcCallSpan } from "../tracing/request-tracer.ts";
import { startTracedCall } from "../tracing/w3c-trace-context.ts";
import type { AttemptListener } from "./attempt-contract.ts";
import { BackendAttempt } from "./backend-attempt.ts";
import { CreditRelay } from "./credit-relay.ts";
import type { ProxyContext } from "./proxy-context.ts";

const EMPTY = Buffer.alloc(0);

/** Starts a call the router answers itself rather than forwarding it to one TEI call. */
export type LocalMethodStarter = (ctx: ProxyContext, down: H2Stream, call: AdmissionCall, method: MethodSpec, endStream: boolean) => StreamHandler;

/** Local methods by MethodSpec.name, registered by the modules that serve them (server.ts loads them). */
const LOCAL_METHODS = new Map<string, LocalMethodStarter>();

/** Registers the starter of a method with no TEI counterpart (`upstreamPath` ""). */
export function registerLocalMethod(name: string, start: LocalMethodStarter): void {
  LOCAL_METHODS.set(name, start);
}

/**
 * Starts proxying an admitted call (its method served, its target noted unless its first message
 * names it) and makes it the handler of the client stream.
 * @param endStream - the request ended with its headers (no message at all)
 * @returns the handler, to which request events already received may be replayed
 */
export function startCall(ctx: ProxyContext, down: H2Stream, call: AdmissionCall, method: MethodSpec, endStream: boolean): StreamHandler {
  // A method with no TEI counterpart that the router serves itself (EmbedArrow, arrow/).
  if (method.upstreamPath === "") {
    const local = LOCAL_METHODS.get(method.name);
    if (local !== undefined) return local(ctx, down, call, method, endStream);
  }
  const proxied = new ProxyCall(ctx, down, call, method);
  down.handler = proxied;
  proxied.start();
  if (endStream) proxied.onRequestEnd();
  return proxied;
}

class ProxyCall implements StreamHandler, AttemptListener {
  private readonly ctx: ProxyContext;
  private readonly down: H2Stream;
  private readonly call: AdmissionCall;
  private readonly method: MethodSpec;
  private readonly reader: FrameReader;
  private readonly attempt: BackendAttempt;
  /** The single (already unwrapped/validated) request of a unary call. */
  private unaryFrame: Buffer | null = null;
  private messages = 0;
  /** Response headers were sent to the client (so a later status goes in trailers). */
  private responded = false;
  /** Request bytes owed to the client until the backend takes them. */
  private readonly requestCredit = new CreditRelay();
  private done = false;
  /** The call's span (tracing on). */
  private readonly span: GrpcCallSpan | null = null;
  /** The router's own message of a status it answered (for the span; TEI's is in its trailers). */
  private message = "";

  constructor(ctx: ProxyContext, down: H2Stream, call: AdmissionCall, method: MethodSpec) {
    this.ctx = ctx;
    this.down = down;
    this.call = call;
    this.method = method;
    this.reader = new FrameReader(ctx.maxMessageBytes);
    let headers = call.headers;
    if (ctx.tracer !== null) {
      // TEI gets this span's traceparent, so its spans hang under the router's hop.
      ({ span: this.span, headers } = startTracedCall(ctx.tracer, method.name, headers));
    }
    this.attempt = new BackendAttempt(ctx, method, headers, call.startedAt, this, call);
  }

  start(): void {
    this.ctx.metrics.callStarted();
    const target = this.call.target;
    if (target === null) return; // a multiplexer call: its first message names the target
    try {
      this.attempt.route(target);
    } catch (err) {
      this.fail(err);
    }
  }

  // ---- the client stream's events ----

  onHeaders(_stream: H2Stream, _headers: string[], endStream: boolean): void {
    // Request trailers: gRPC clients send none; only their END_STREAM matters.
    if (endStream) this.onRequestEnd();
  }

  onData(_stream: H2Stream, data: Buffer, endStream: boolean): void {
    this.onRequestData(data);
    if (endStream) this.onRequestEnd();
  }

  onReset(): void {
    this.onClientGone();
  }

  onDrain(): void {
    this.attempt.drained();
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
      for (let frame = this.reader.read(); frame !== null; frame = this.reader.read()) {
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
    return this.attempt.send(this.prepare(frame), false);
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
      const target = u.target as Target;
      this.call.target = target;
      this.attempt.route(target);
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
      this.attempt.sendUnary(this.unaryFrame);
      return;
    }
    if (this.messages === 0 && this.method.refuseEmptyStream) {
      throw new RouterError(
        GrpcStatus.INVALID_ARGUMENT,
        this.method.mux ? "empty stream: the first message must carry the target" : "RerankStream needs at least one message (TEI aborts on an empty one)",
      );
    }
    this.attempt.send(EMPTY, true);
  }

  // ---- response direction (the attempt's events) ----

  onAttemptHeaders(headers: string[]): void {
    this.responded = true;
    this.down.conn.sendHeaders(this.down, headers, false);
  }

  onAttemptData(chunk: Buffer): boolean {
    return this.down.conn.sendData(this.down, chunk, false);
  }

  onAttemptEnd(headers: string[] | null, body: Buffer | null, trailers: string[], code: GrpcStatusCode): void {
    const down = this.down;
    if (headers !== null) {
      // A unary answer, held whole by the attempt: it leaves in one write with its trailers.
      this.responded = true;
      down.conn.sendHeaders(down, headers, false);
      if (body !== null) down.conn.sendData(down, body, false);
    }
    down.conn.sendHeaders(down, trailers, true);
    if (code !== GrpcStatus.OK && this.span !== null) this.message = decodeGrpcMessage(headerValue(trailers, "grpc-message"));
    this.finish(code);
  }

  onAttemptError(err: RouterError): void {
    this.fail(err);
  }

  onAttemptDrain(): void {
    this.requestCredit.release(this.down);
  }

  // ---- ending ----

  /** Ends the call with a status of the router's own, whatever state it is in. */
  private fail(err: unknown): void {
    if (this.done) return;
    const e = err instanceof RouterError ? err : new RouterError(GrpcStatus.INTERNAL, "router error");
    if (!(err instanceof RouterError)) this.ctx.log.error({ err }, "unexpected error while proxying");
    this.attempt.cancel();
    if (!this.responded) sendStatus(this.down, e.code, e.message, this.attempt.replica);
    else this.down.conn.sendHeaders(this.down, statusTrailers(e.code, e.message), true);
    this.message = e.message;
    this.finish(e.code);
  }

  /** The client went away (cancel, reset, lost connection): the attempt frees the backend stream. */
  private onClientGone(): void {
    if (this.done) return;
    this.finish(GrpcStatus.CANCELLED);
  }

  private finish(code: GrpcStatusCode): void {
    if (this.done) return;
    this.done = true;
    this.attempt.cancel();
    // Request bytes held back while the backend was behind are no longer owed to anyone.
    this.requestCredit.release(this.down);
    const metrics = this.ctx.metrics;
    metrics.record(metrics.forCall(this.attempt.replica, this.method), code, (performance.now() - this.call.startedAt) / 1000);
    metrics.callEnded();
    endCall(this.call, code);
    this.span?.end({ code, message: this.message, replica: this.attempt.replica, retried: this.attempt.moved });
  }
}
