/**
 * Answers a call with a status of the router's own, as a gRPC "trailers-only" response: one
 * HEADERS frame carrying `grpc-status` and `grpc-message` with END_STREAM.
 */
import type { OutgoingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { encodeGrpcMessage, GRPC_STATUS_STRINGS, type GrpcStatusCode } from "./grpc-status.ts";
import type { Replica } from "./route-table.ts";

const END_STREAM = { endStream: true } as const;

/**
 * Sends a trailers-only status unless the stream already answered or is gone, and drains
 * whatever request bytes are still coming (so the client is never stuck on flow control).
 * @param httpStatus - 200 for gRPC errors; 415 for a non-gRPC content-type (gRPC spec)
 * @param replica - when the call was already routed, named in x-tei-instance / x-tei-node
 */
export function sendStatus(
  stream: ServerHttp2Stream,
  code: GrpcStatusCode,
  message: string,
  replica: Replica | null = null,
  httpStatus = 200,
): void {
  if (!stream.headersSent && !stream.destroyed && !stream.closed) {
    const headers: OutgoingHttpHeaders = {
      ":status": httpStatus,
      "content-type": "application/grpc",
      "grpc-status": GRPC_STATUS_STRINGS[code],
      "grpc-message": encodeGrpcMessage(message),
    };
    if (replica !== null) {
      headers["x-tei-instance"] = replica.instanceName;
      headers["x-tei-node"] = replica.node;
    }
    stream.respond(headers, END_STREAM);
  }
  // Discard the rest of the request body; the client sees the status and stops.
  if (!stream.readableEnded) stream.resume();
}

/** Trailers carrying a status of the router's own (after response headers went out). */
export function statusTrailers(code: GrpcStatusCode, message: string): OutgoingHttpHeaders {
  return { "grpc-status": GRPC_STATUS_STRINGS[code], "grpc-message": encodeGrpcMessage(message) };
}
