/**
 * Answers a call with a status of the router's own, as a gRPC "trailers-only" response: one
 * HEADERS frame carrying `grpc-status` and `grpc-message` with END_STREAM; and the two headers
 * that name the replica behind every answer.
 */

import type { H2Stream } from "../h2/index.ts";
import { encodeGrpcMessage, GRPC_STATUS_STRINGS, type GrpcStatusCode } from "./grpc-status.ts";

/** The replica that served (or was chosen for) a call, as its answer names it. */
export interface ServedBy {
  readonly instanceName: string;
  readonly node: string;
}

/** Appends `x-tei-instance` and `x-tei-node` (who served the call) to a header list. */
export function addServedBy(headers: string[], servedBy: ServedBy): void {
  headers.push("x-tei-instance", servedBy.instanceName, "x-tei-node", servedBy.node);
}

/**
 * Sends a trailers-only status unless the stream already ended its response. Request bytes
 * still coming are credited and dropped by the caller (the client sees the status and stops).
 * @param httpStatus - 200 for gRPC errors; 415 for a non-gRPC content-type (gRPC spec)
 * @param servedBy - when the call was already routed, its replica (a route-table Replica), named
 *   in x-tei-instance / x-tei-node
 * @param retryAfterMs - when set, the caller's retry hint: `retry-after-ms` (what any client, and
 *   the HTTP gateway's `Retry-After`, reads) and `grpc-retry-pushback-ms` (what gRPC's built-in
 *   retry policy honours), both whole milliseconds
 */
export function sendStatus(
  stream: H2Stream,
  code: GrpcStatusCode,
  message: string,
  servedBy: ServedBy | null = null,
  httpStatus = 200,
  retryAfterMs?: number,
): void {
  if (stream.closed || stream.localEnded) return;
  const headers = [
    ":status",
    String(httpStatus),
    "content-type",
    "application/grpc",
    "grpc-status",
    GRPC_STATUS_STRINGS[code] as string,
    "grpc-message",
    encodeGrpcMessage(message),
  ];
  if (servedBy !== null) addServedBy(headers, servedBy);
  if (retryAfterMs !== undefined) {
    const ms = String(Math.max(1, Math.ceil(retryAfterMs)));
    headers.push("retry-after-ms", ms, "grpc-retry-pushback-ms", ms);
  }
  stream.conn.sendHeaders(stream, headers, true);
}

/** Trailers carrying a status of the router's own (after response headers went out). */
export function statusTrailers(code: GrpcStatusCode, message: string): string[] {
  return ["grpc-status", GRPC_STATUS_STRINGS[code] as string, "grpc-message", encodeGrpcMessage(message)];
}
