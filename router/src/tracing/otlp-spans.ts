/**
 * The gateway's spans as OpenTelemetry spans (request-tracer.ts says what they are for), named
 * and attributed by the semantic conventions: a request is a SERVER span `{method} {route}` with
 * the HTTP attributes (status Error only for a 5xx: a client's 4xx is not the server's failure,
 * the HTTP conventions say, and is told by `http.response.status_code` and `tei.error.code`); each
 * TEI call a CLIENT span `tei.v1.Embed/Embed` with the gRPC attributes (status Error for every
 * status but OK, as the conventions have it for a client); each HTTP call to a remote backend a
 * CLIENT span `{method} {route}` (`POST /embed`) with the HTTP client attributes (status Error for
 * no answer or a status of 400 or more, as the conventions have it for a client); each call on
 * the gRPC front a SERVER span `tei.v1.Embed/Embed` with the gRPC attributes (status Error for the
 * server's own failures only). The fleet's own facts are `tei.*`.
 *
 * Spans are parented explicitly (the client's `traceparent`, then the request's span), never
 * through a context manager: the gateway's callbacks do not run inside an active context, and
 * none is needed to hand a parent down one call.
 */
import {
  type Attributes,
  type Context,
  createTraceState,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from "@opentelemetry/semantic-conventions";
import { GRPC_STATUS_NAMES } from "../grpc/grpc-status.ts";
import type {
  CallEnd,
  CallSpan,
  GrpcCallSpan,
  GrpcCallStart,
  HttpCallEnd,
  HttpCallSpan,
  HttpCallStart,
  RequestEnd,
  RequestSpan,
  RequestStart,
  RequestTracer,
} from "./request-tracer.ts";

// The gRPC conventions as tracing backends read them today (service graphs group by
// rpc.service): `rpc.system`, `rpc.service`, `rpc.method` (the bare method name) and
// `rpc.grpc.status_code`. They are in the package's incubating entry only (a module of several
// MiB, whose names may change in a minor release), so they are spelled here.
const ATTR_RPC_SYSTEM = "rpc.system";
const ATTR_RPC_SERVICE = "rpc.service";
const ATTR_RPC_METHOD = "rpc.method";
const ATTR_RPC_GRPC_STATUS_CODE = "rpc.grpc.status_code";

/** The methods `http.request.method` may hold (any other is `_OTHER`, the conventions say). */
const KNOWN_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);

/** Longest path and message kept on a span (a path is the client's text; a message TEI's). */
const MAX_PATH = 1024;
const MAX_MESSAGE = 300;

/** The remote parent a valid `traceparent` (and `tracestate`) names. */
function remoteParent(traceparent: string, tracestate: string | undefined): Context {
  const parent: SpanContext = {
    traceId: traceparent.slice(3, 35),
    spanId: traceparent.slice(36, 52),
    traceFlags: Number.parseInt(traceparent.slice(53, 55), 16),
    isRemote: true,
  };
  if (tracestate !== undefined) parent.traceState = createTraceState(tracestate);
  return trace.setSpanContext(ROOT_CONTEXT, parent);
}

/** The W3C `traceparent` that names `c` as the parent of the callee's spans. */
function traceparentOf(c: SpanContext): string {
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 1) === 1 ? "01" : "00"}`;
}

/** `server.address` and `server.port` of a `host:port` (IPv6 in brackets or not). */
function addressAttributes(a: Attributes, address: string): void {
  const colon = address.lastIndexOf(":");
  if (colon <= 0) {
    a[ATTR_SERVER_ADDRESS] = address;
    return;
  }
  const host = address.slice(0, colon);
  a[ATTR_SERVER_ADDRESS] = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const port = Number(address.slice(colon + 1));
  if (Number.isInteger(port)) a[ATTR_SERVER_PORT] = port;
}

/** A span (a CLIENT span, or a gRPC call's SERVER span) ended once, with what `record` sets on it while it records. */
abstract class OtlpClientSpan<E> {
  readonly traceparent: string;
  private readonly span: Span;
  private ended = false;

  constructor(span: Span) {
    this.span = span;
    this.traceparent = traceparentOf(span.spanContext());
  }

  end(e: E): void {
    if (this.ended) return;
    this.ended = true;
    if (this.span.isRecording()) this.record(this.span, e);
    this.span.end();
  }

  protected abstract record(s: Span, e: E): void;
}

/**
 * The codes a gRPC server's span is an error for (the conventions: the server's own failures;
 * a caller's mistake such as INVALID_ARGUMENT or NOT_FOUND is not): UNKNOWN, DEADLINE_EXCEEDED,
 * UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS. A client's span is an error for every code but OK.
 */
const SERVER_ERROR_CODES: ReadonlySet<number> = new Set([2, 4, 12, 13, 14, 15]);

/** Records how a gRPC call ended on its span; `isError` says which codes make it an error span. */
function recordCallEnd(s: Span, e: CallEnd, isError: (code: number) => boolean): void {
  const a: Attributes = { [ATTR_RPC_GRPC_STATUS_CODE]: e.code };
  const r = e.replica;
  if (r !== null) {
    addressAttributes(a, r.address);
    a["tei.instance"] = r.instanceName;
    a["tei.node"] = r.node;
  }
  if (e.retried) a["tei.retried"] = true;
  if (e.code !== 0 && isError(e.code)) {
    const name = GRPC_STATUS_NAMES[e.code] ?? String(e.code);
    a[ATTR_ERROR_TYPE] = name;
    s.setStatus({ code: SpanStatusCode.ERROR, message: e.message === "" ? name : `${name}: ${e.message.slice(0, MAX_MESSAGE)}` });
  }
  s.setAttributes(a);
}

/** The CLIENT span of one TEI call. */
class OtlpCallSpan extends OtlpClientSpan<CallEnd> implements CallSpan {
  protected record(s: Span, e: CallEnd): void {
    recordCallEnd(s, e, () => true);
  }
}

/**
 * The SERVER span of one call on the gRPC front (a span ended once, like a client's). Its
 * `server.address` and `server.port` name the replica the call was proxied to.
 */
class OtlpGrpcCallSpan extends OtlpClientSpan<CallEnd> implements GrpcCallSpan {
  protected record(s: Span, e: CallEnd): void {
    recordCallEnd(s, e, (code) => SERVER_ERROR_CODES.has(code));
  }
}

/** `rpc.system`, `rpc.service` and `rpc.method` of `tei.v1.Embed/Embed`. */
function rpcAttributes(method: string): Attributes {
  const slash = method.indexOf("/");
  return { [ATTR_RPC_SYSTEM]: "grpc", [ATTR_RPC_SERVICE]: method.slice(0, slash), [ATTR_RPC_METHOD]: method.slice(slash + 1) };
}

/** The CLIENT span of one HTTP call to a remote backend. */
class OtlpHttpCallSpan extends OtlpClientSpan<HttpCallEnd> implements HttpCallSpan {
  protected record(s: Span, e: HttpCallEnd): void {
    if (e.status > 0) s.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, e.status);
    // The HTTP conventions: a client's call failed when no answer came or it was 4xx/5xx; error.type the status or the failure.
    const failure = e.status === 0 ? (e.error ?? "_OTHER") : e.status >= 400 ? String(e.status) : undefined;
    if (failure !== undefined) {
      s.setAttribute(ATTR_ERROR_TYPE, failure);
      s.setStatus({ code: SpanStatusCode.ERROR, message: e.status === 0 ? failure : `answered ${e.status}` });
    }
  }
}

/** The SERVER span of one request. */
class OtlpRequestSpan implements RequestSpan {
  readonly traceId: string;
  readonly spanId: string;
  private readonly tracer: Tracer;
  private readonly span: Span;
  /** The context its calls' spans start in (made on the first call). */
  private context: Context | null = null;
  private ended = false;

  constructor(tracer: Tracer, span: Span) {
    this.tracer = tracer;
    this.span = span;
    const c = span.spanContext();
    this.traceId = c.traceId;
    this.spanId = c.spanId;
  }

  startCall(method: string): CallSpan {
    this.context ??= trace.setSpan(ROOT_CONTEXT, this.span);
    return new OtlpCallSpan(this.tracer.startSpan(method, { kind: SpanKind.CLIENT, attributes: rpcAttributes(method) }, this.context));
  }

  startHttpCall(c: HttpCallStart): HttpCallSpan {
    this.context ??= trace.setSpan(ROOT_CONTEXT, this.span);
    const a: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: c.method,
      [ATTR_URL_FULL]: c.url.slice(0, MAX_PATH),
      [ATTR_SERVER_ADDRESS]: c.host,
      "tei.backend": c.backend,
    };
    if (c.port > 0) a[ATTR_SERVER_PORT] = c.port;
    return new OtlpHttpCallSpan(this.tracer.startSpan(`${c.method} ${c.route}`, { kind: SpanKind.CLIENT, attributes: a }, this.context));
  }

  end(e: RequestEnd): void {
    if (this.ended) return;
    this.ended = true;
    const s = this.span;
    if (s.isRecording()) {
      const a: Attributes = {};
      if (e.requestId !== undefined) a["tei.request_id"] = e.requestId;
      // 499 is the gateway's mark of a client that left: no response was sent.
      if (e.status === 499) a["tei.client_gone"] = true;
      else a[ATTR_HTTP_RESPONSE_STATUS_CODE] = e.status;
      if (e.model !== undefined) a["tei.model"] = e.model;
      if (e.modelId !== undefined) a["tei.model_id"] = e.modelId;
      if (e.instance !== undefined) a["tei.instance"] = e.instance;
      if (e.node !== undefined) a["tei.node"] = e.node;
      if (e.backend !== undefined) a["tei.backend"] = e.backend;
      if (e.inputs > 0) a["tei.inputs"] = e.inputs;
      if (e.chunks > 0) a["tei.chunks"] = e.chunks;
      if (e.calls > 0) a["tei.calls"] = e.calls;
      if (e.errorCode !== undefined) a["tei.error.code"] = e.errorCode;
      if (e.status >= 500) {
        a[ATTR_ERROR_TYPE] = String(e.status);
        s.setStatus({ code: SpanStatusCode.ERROR, message: (e.errorMessage ?? "").slice(0, MAX_MESSAGE) });
      }
      s.setAttributes(a);
    }
    s.end();
  }
}

/** The router's tracer over OpenTelemetry tracers: the gateway's, and the gRPC front's (its own instrumentation scope). */
export class OtlpRequestTracer implements RequestTracer {
  private readonly tracer: Tracer;
  private readonly grpcTracer: Tracer;

  constructor(tracer: Tracer, grpcTracer: Tracer = tracer) {
    this.tracer = tracer;
    this.grpcTracer = grpcTracer;
  }

  startRequest(s: RequestStart): RequestSpan {
    const known = KNOWN_METHODS.has(s.method);
    const method = known ? s.method : "_OTHER";
    const a: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: method,
      [ATTR_URL_PATH]: s.path.slice(0, MAX_PATH),
      [ATTR_URL_SCHEME]: "http",
      [ATTR_NETWORK_PROTOCOL_VERSION]: s.httpVersion,
    };
    if (!known) a[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = s.method.slice(0, 32);
    if (s.route !== null) a[ATTR_HTTP_ROUTE] = s.route;
    if (s.userAgent !== undefined) a[ATTR_USER_AGENT_ORIGINAL] = s.userAgent.slice(0, MAX_PATH);
    if (s.clientAddress !== undefined) a[ATTR_CLIENT_ADDRESS] = s.clientAddress;
    // The conventions' span name: `{method} {route}`, the method alone without a route, `HTTP` for an unknown method.
    const name = !known ? "HTTP" : s.route === null ? method : `${method} ${s.route}`;
    const parent = s.traceparent === undefined ? ROOT_CONTEXT : remoteParent(s.traceparent, s.tracestate);
    return new OtlpRequestSpan(this.tracer, this.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: a }, parent));
  }

  startGrpcCall(s: GrpcCallStart): GrpcCallSpan {
    const parent = s.traceparent === undefined ? ROOT_CONTEXT : remoteParent(s.traceparent, s.tracestate);
    return new OtlpGrpcCallSpan(this.grpcTracer.startSpan(s.method, { kind: SpanKind.SERVER, attributes: rpcAttributes(s.method) }, parent));
  }
}
