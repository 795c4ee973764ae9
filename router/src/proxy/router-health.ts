/**
 * The router's own gRPC health (`grpc.health.v1.Health/Check`, for load balancers): SERVING once
 * it has a route table, NOT_SERVING before. A gRPC call like any other as far as its protocol
 * goes (POST, gRPC's content type: the request steps), but answered here and never forwarded, so
 * the rest of the admission chain (API keys, limits, queue) does not apply to it.
 */
import { type AdmissionCall, runAdmission } from "../admission/admission.ts";
import { GRPC_REQUEST_STEPS } from "../admission/grpc-chain.ts";
import { RouterError } from "../grpc/grpc-status.ts";
import type { H2Stream } from "../h2/index.ts";
import type { RouterMetrics } from "../metrics/router-metrics.ts";
import { DISCARD, refuseCall } from "./call-refusal.ts";

/** The path a load balancer's gRPC health check calls. */
export const HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check";

/** HealthCheckResponse{status: SERVING} and {status: NOT_SERVING}, framed. */
const HEALTH_SERVING = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]);
const HEALTH_NOT_SERVING = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x02]);
const HEALTH_HEADERS = [":status", "200", "content-type", "application/grpc"];
const OK_TRAILERS = ["grpc-status", "0"];

/**
 * Answers a health check on `stream`: SERVING when `ready` (the router has a route table).
 * A call that is not a well-formed gRPC request is refused as any other would be.
 */
export function answerRouterHealth(metrics: RouterMetrics, stream: H2Stream, call: AdmissionCall, ready: boolean): void {
  const refusal = runAdmission(GRPC_REQUEST_STEPS, call);
  if (refusal instanceof RouterError) {
    refuseCall(metrics, stream, call, refusal);
    return;
  }
  stream.handler = DISCARD;
  const conn = stream.conn;
  conn.sendHeaders(stream, HEALTH_HEADERS, false);
  conn.sendData(stream, ready ? HEALTH_SERVING : HEALTH_NOT_SERVING, false);
  conn.sendHeaders(stream, OK_TRAILERS, true);
}
