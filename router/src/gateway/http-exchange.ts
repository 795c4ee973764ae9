/**
 * One HTTP exchange as the gateway handles it, whichever protocol carried it: node:http's
 * request and response for HTTP/1.1, node:http2's compatibility request and response for h2c.
 * Both give the same fields and events the gateway uses (url, method, headers, rawHeaders, the
 * body's data/end, writeHead with a flat header list, end, close).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";

/** The request of an exchange. */
export type HttpRequest = IncomingMessage | Http2ServerRequest;

/** What the gateway calls on a response (both protocols' responses have it). */
export interface HttpResponse {
  writeHead(status: number, headers: string[]): unknown;
  end(body?: string): unknown;
  on(event: "close", listener: () => void): unknown;
}

/** Either protocol's response, as the gateway sees it. */
export function asResponse(res: ServerResponse | Http2ServerResponse): HttpResponse {
  return res as unknown as HttpResponse;
}
