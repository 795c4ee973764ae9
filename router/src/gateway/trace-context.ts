/**
 * W3C trace context (`traceparent`, `tracestate`) taken from the HTTP request and passed to TEI
 * as gRPC metadata with every call the request makes. A malformed `traceparent` is dropped, as
 * the spec asks of a receiver, rather than refused. With tracing on, the request's span is
 * parented on the valid one (traceContextOf), and each call carries its own span's instead
 * (tracing/w3c-trace-context.ts, withOwnTraceparent).
 */
import type { IncomingHttpHeaders } from "node:http";
import { isValidTraceparent, isValidTracestate } from "../tracing/w3c-trace-context.ts";
import { GRPC_HEADERS } from "./model-info.ts";

/**
 * The metadata of a request's TEI calls: content-type, then `traceparent` (always at index 3
 * when present) and `tracestate`.
 */
export function grpcHeadersOf(headers: IncomingHttpHeaders): readonly string[] {
  const tp = headers.traceparent;
  if (!isValidTraceparent(tp)) return GRPC_HEADERS;
  const out = [...GRPC_HEADERS, "traceparent", tp];
  const ts = headers.tracestate;
  if (isValidTracestate(ts)) out.push("tracestate", ts);
  return out;
}

/** The valid `traceparent` and `tracestate` kept in metadata made by {@link grpcHeadersOf} (undefined: none). */
export function traceContextOf(grpcHeaders: readonly string[]): { traceparent: string | undefined; tracestate: string | undefined } {
  return {
    traceparent: grpcHeaders[2] === "traceparent" ? grpcHeaders[3] : undefined,
    tracestate: grpcHeaders[4] === "tracestate" ? grpcHeaders[5] : undefined,
  };
}
