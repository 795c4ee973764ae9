/**
 * The start of a gateway request's SERVER span (tracing on: GatewayContext.tracer set): what the
 * tracer is told of the request as it arrived. Parented on the client's `traceparent` when it
 * was valid (the one trace-context.ts kept), a new trace otherwise.
 */
import type { RequestSpan, RequestTracer } from "../tracing/request-tracer.ts";
import type { HttpRequest } from "./http-exchange.ts";
import { traceContextOf } from "./trace-context.ts";

/**
 * Starts the span of `req`.
 * @param route - the route as documented (`/v1/embeddings`); null when no route took the path
 * @param grpcHeaders - the request's TEI metadata (grpcHeadersOf), holding its valid trace context
 */
export function startRequestSpan(tracer: RequestTracer, req: HttpRequest, route: string | null, grpcHeaders: readonly string[]): RequestSpan {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const { traceparent, tracestate } = traceContextOf(grpcHeaders);
  const ua = req.headers["user-agent"];
  return tracer.startRequest({
    method: req.method ?? "GET",
    route,
    path: q < 0 ? url : url.slice(0, q),
    // node:http2's compatibility request says "2.0"; the conventions write HTTP/2 as "2".
    httpVersion: req.httpVersion === "2.0" ? "2" : req.httpVersion,
    traceparent,
    tracestate,
    userAgent: typeof ua === "string" ? ua : undefined,
    clientAddress: req.socket?.remoteAddress,
  });
}
