/**
 * Answers a call with a status of the router's own, as a gRPC "trailers-only" response: one
 * HEADERS frame carrying `grpc-status` and `grpc-message` with END_STREAM.
 */
import { encodeGrpcMessage, GRPC_STATUS_STRINGS, type GrpcStatusCode } from "./grpc-status.ts";
import type { H2Stream } from "./h2/h2-stream.ts";
import type { Replica } from "./route-table.ts";

/**
 * Sends a trailers-only status unless the stream already ended its response. Request bytes
 * still coming are credited and dropped by the caller (the client sees the status and stops).
 * @param httpStatus - 200 for gRPC errors; 415 for a non-gRPC content-type (gRPC spec)
 * @param replica - when the call was already routed, named in x-tei-instance / x-tei-node
 */
export function sendStatus(
  stream: H2Stream,
  code: GrpcStatusCode,
  message: string,
  replica: Replica | null = null,
  httpStatus = 200,
): void {
  if (stream.closed || stream.localEnded) return;
  const headers = [
    ":status", String(httpStatus),
    "content-type", "application/grpc",
    "grpc-status", GRPC_STATUS_STRINGS[code] as string,
    "grpc-message", encodeGrpcMessage(message),
  ];
  if (replica !== null) headers.push("x-tei-instance", replica.instanceName, "x-tei-node", replica.node);
  stream.conn.sendHeaders(stream, headers, true);
}

/** Trailers carrying a status of the router's own (after response headers went out). */
export function statusTrailers(code: GrpcStatusCode, message: string): string[] {
  return ["grpc-status", GRPC_STATUS_STRINGS[code] as string, "grpc-message", encodeGrpcMessage(message)];
}
