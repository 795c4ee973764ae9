/**
 * What the HTTP gateway asks of a tracer, in its own terms: a SERVER span per request, a CLIENT
 * span per TEI call the request makes (or per HTTP call to a remote backend), each ended with
 * what happened; and what the gRPC front asks: a SERVER span per proxied call. Types only, so the
 * gateway's hot path imports nothing of OpenTelemetry: the one implementation (otlp-tracer.ts)
 * is loaded only when an OTLP endpoint is configured, and with none the gateway holds a null
 * tracer and creates no span object at all.
 */

/** A request as it arrived, when its span starts. */
export interface RequestStart {
  /** The HTTP method as sent. */
  readonly method: string;
  /** The route as documented (`/v1/embeddings`), whatever prefix chose the model; null when no route took the path. */
  readonly route: string | null;
  /** The path, without the query. */
  readonly path: string;
  /** `1.1` or `2`. */
  readonly httpVersion: string;
  /** The client's `traceparent` when valid (trace-context.ts), else undefined: a new trace. */
  readonly traceparent: string | undefined;
  /** Its `tracestate`, when valid. */
  readonly tracestate: string | undefined;
  readonly userAgent: string | undefined;
  readonly clientAddress: string | undefined;
}

/** How a request ended. */
export interface RequestEnd {
  /** The HTTP status answered; 499 when the client left before its answer (none was sent). */
  readonly status: number;
  /** The gateway's `x-request-id` of the request (undefined: a path no route took, which gets none). */
  readonly requestId: string | undefined;
  /** The model name as the client called it, the model id it resolved to, who served it. */
  readonly model: string | undefined;
  readonly modelId: string | undefined;
  readonly instance: string | undefined;
  readonly node: string | undefined;
  /** The remote backend (model catalog) that served it, when one did. */
  readonly backend: string | undefined;
  /** Inputs of the request, chunks it split into (by `max_client_batch_size`), TEI calls made. */
  readonly inputs: number;
  readonly chunks: number;
  readonly calls: number;
  /** The refusal's code (`model_not_found`, TEI's error type...), and its message; undefined when served. */
  readonly errorCode: string | undefined;
  readonly errorMessage: string | undefined;
}

/** The replica a call went to, as the span names it. */
export interface CallReplica {
  /** `host:port` of its TEI gRPC server. */
  readonly address: string;
  readonly instanceName: string;
  readonly node: string;
}

/** How a TEI call ended. */
export interface CallEnd {
  /** The gRPC status (TEI's, or the router's own: no replica, a reset, cancelled). */
  readonly code: number;
  /** `grpc-message`, or the router's own message ("" when OK). */
  readonly message: string;
  /** The replica that answered (after a retry, the second); null when none was chosen. */
  readonly replica: CallReplica | null;
  /** The call moved to another replica once (the attempt's retry). */
  readonly retried: boolean;
}

/** The CLIENT span of one TEI call. */
export interface CallSpan {
  /** The W3C `traceparent` naming this span, sent to TEI so TEI's spans hang under it. */
  readonly traceparent: string;
  /** Ends the span (later calls do nothing). */
  end(e: CallEnd): void;
}

/** An HTTP call to a remote backend (model catalog), as its span starts. */
export interface HttpCallStart {
  /** `POST` or `GET`. */
  readonly method: string;
  /** The route called on the backend, for the span's name (`/embed`, `/embeddings`). */
  readonly route: string;
  /** The URL called, without credentials or query (it becomes `url.full`). */
  readonly url: string;
  /** The URL's host and port. */
  readonly host: string;
  readonly port: number;
  /** The backend's name in the catalog. */
  readonly backend: string;
}

/** How an HTTP call ended. */
export interface HttpCallEnd {
  /** The status answered; 0 when none came (a refused connection, a timeout, cancelled). */
  readonly status: number;
  /** Why it failed without an answer (`timeout`, `cancelled`, a socket error's code); undefined when answered. */
  readonly error: string | undefined;
}

/** The CLIENT span of one HTTP call to a remote backend. */
export interface HttpCallSpan {
  /** The W3C `traceparent` naming this span, sent upstream so the backend's spans hang under it. */
  readonly traceparent: string;
  /** Ends the span (later calls do nothing). */
  end(e: HttpCallEnd): void;
}

/** The SERVER span of one gateway request. */
export interface RequestSpan {
  /** Its trace and span ids (hex), for the request's log line. */
  readonly traceId: string;
  readonly spanId: string;
  /** Starts the span of one TEI call of the request, `method` as `tei.v1.Embed/Embed`. */
  startCall(method: string): CallSpan;
  /** Starts the span of one HTTP call of the request to a remote backend. */
  startHttpCall(s: HttpCallStart): HttpCallSpan;
  /** Ends the span (later calls do nothing). */
  end(e: RequestEnd): void;
}

/** A call on the router's gRPC front (proxied to TEI, or a multiplexer call), as its span starts. */
export interface GrpcCallStart {
  /** The method as its path names it, without the leading slash: `tei.v1.Embed/Embed`. */
  readonly method: string;
  /** The caller's `traceparent` when valid, else undefined: a new trace. */
  readonly traceparent: string | undefined;
  /** Its `tracestate`, when valid. */
  readonly tracestate: string | undefined;
}

/**
 * The SERVER span of one call on the gRPC front. The router is the call's proxy: this one span
 * covers its hop, and TEI, given {@link GrpcCallSpan.traceparent}, hangs its spans under it.
 */
export interface GrpcCallSpan {
  /** The W3C `traceparent` naming this span, sent to TEI in place of the caller's. */
  readonly traceparent: string;
  /** Ends the span (later calls do nothing). */
  end(e: CallEnd): void;
}

/** Starts request spans. */
export interface RequestTracer {
  startRequest(s: RequestStart): RequestSpan;
  /** Starts the span of a call on the gRPC front. */
  startGrpcCall(s: GrpcCallStart): GrpcCallSpan;
}

/** A running tracer and its exporter. */
export interface Tracing {
  readonly tracer: RequestTracer;
  /** The traces URL spans are sent to, without credentials or query (for the log). */
  readonly endpoint: string;
  /** Exports the spans still buffered (waiting at most `timeoutMs`) and stops; never rejects. */
  shutdown(timeoutMs: number): Promise<void>;
}
