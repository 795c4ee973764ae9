/**
 * W3C Trace Context's rules for what a receiver accepts (https://www.w3.org/TR/trace-context/):
 * a `traceparent` of version 00's shape (55 characters, lowercase hex, neither id all zeros;
 * version ff is invalid) and a `tracestate` of printable ASCII within 512 characters. A malformed
 * one is dropped, as the spec asks of a receiver, never refused. Both surfaces use these: the
 * HTTP gateway (gateway/trace-context.ts) and the gRPC front (proxy/proxy-call.ts).
 */
import type { GrpcCallSpan, GrpcCallStart } from "./request-tracer.ts";

const TRACEPARENT = /^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** True for a `traceparent` a receiver may continue. */
export function isValidTraceparent(tp: unknown): tp is string {
  return typeof tp === "string" && tp.length === 55 && !tp.startsWith("ff") && TRACEPARENT.test(tp);
}

/** True for a `tracestate` that may be passed on. */
export function isValidTracestate(ts: unknown): ts is string {
  return typeof ts === "string" && ts.length > 0 && ts.length <= 512 && /^[\x20-\x7e]+$/.test(ts);
}

/** The valid trace context in a flat [name, value, ...] header list (undefined: none, or malformed). */
export function traceContextInHeaders(headers: readonly string[]): { traceparent: string | undefined; tracestate: string | undefined } {
  let traceparent: string | undefined;
  let tracestate: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name === "traceparent") traceparent = headers[i + 1];
    else if (name === "tracestate") tracestate = headers[i + 1];
  }
  if (!isValidTraceparent(traceparent)) return { traceparent: undefined, tracestate: undefined };
  return { traceparent, tracestate: isValidTracestate(tracestate) ? tracestate : undefined };
}

/**
 * `headers` (flat) with `traceparent` as the only `traceparent`, and the client's `tracestate`
 * kept only when it was valid alongside a valid `traceparent` (passed on as it came: the router
 * keeps no entry of its own there).
 */
export function withOwnTraceparent(headers: readonly string[], traceparent: string, tracestate: string | undefined): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name === "traceparent" || name === "tracestate") continue;
    out.push(name, headers[i + 1] as string);
  }
  out.push("traceparent", traceparent);
  if (tracestate !== undefined) out.push("tracestate", tracestate);
  return out;
}

/**
 * Starts the SERVER span of a gRPC-front call (tracing on) and the metadata its TEI calls carry:
 * the caller's, with the span's `traceparent` (and the caller's valid `tracestate`).
 */
export function startTracedCall(
  tracer: { startGrpcCall(s: GrpcCallStart): GrpcCallSpan },
  method: string,
  headers: readonly string[],
): { span: GrpcCallSpan; headers: string[] } {
  const { traceparent, tracestate } = traceContextInHeaders(headers);
  const span = tracer.startGrpcCall({ method, traceparent, tracestate });
  return { span, headers: withOwnTraceparent(headers, span.traceparent, tracestate) };
}
