/**
 * How the router answers a client stream it will not forward (a refusal of the admission chain,
 * or its own health check): the answer goes out, and what the client still sends is credited
 * and dropped, so the client is never stuck on flow control.
 */
import { type AdmissionCall, endCall } from "../admission/admission.ts";
import type { RouterError } from "../grpc/grpc-status.ts";
import { sendStatus } from "../grpc/status-response.ts";
import type { H2Stream, StreamHandler } from "../h2/index.ts";
import type { RouterMetrics } from "../metrics/router-metrics.ts";
import { UNKNOWN_METHOD } from "../tei/method-table.ts";

/** Owns a stream the router has already answered: request bytes still arriving are credited and dropped. */
export const DISCARD: StreamHandler = {
  onHeaders() {},
  onData(stream, data) {
    stream.conn.consume(stream, data.length);
  },
  onReset() {},
  onDrain() {},
};

/**
 * Answers a call with the refusal's status (trailers-only, with its HTTP status), counts it
 * (without a replica: it never reached one) and ends it for the admission steps.
 */
export function refuseCall(metrics: RouterMetrics, stream: H2Stream, call: AdmissionCall, refusal: RouterError): void {
  stream.handler = DISCARD;
  sendStatus(stream, refusal.code, refusal.message, null, refusal.httpStatus, refusal.retryAfterMs);
  metrics.record(metrics.forCall(null, call.method ?? UNKNOWN_METHOD), refusal.code, 0);
  endCall(call, refusal.code);
}
