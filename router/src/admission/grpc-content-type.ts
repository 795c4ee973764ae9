/**
 * Admission step: a gRPC call says so in its content-type (`application/grpc`, optionally
 * `+proto` or parameters); anything else (JSON, gRPC-web, no content-type) is answered HTTP 415
 * with INVALID_ARGUMENT, as the gRPC over HTTP/2 spec asks.
 */
import { GrpcStatus, RouterError } from "../grpc/grpc-status.ts";
import { headerValue } from "../h2/index.ts";
import type { AdmissionStep } from "./admission.ts";

/** True for `application/grpc`, `application/grpc+proto` and either with parameters. */
export function isGrpcContentType(ct: string | undefined): boolean {
  if (ct === undefined || !ct.startsWith("application/grpc")) return false;
  const rest = ct.slice(16);
  return rest === "" || rest.startsWith("+proto") || rest.startsWith(";");
}

/** Refuses a request whose content-type is not gRPC's. */
export const grpcContentType: AdmissionStep = (call) => {
  const ct = headerValue(call.headers, "content-type");
  return isGrpcContentType(ct) ? undefined : new RouterError(GrpcStatus.INVALID_ARGUMENT, `content-type must be application/grpc, got "${ct ?? ""}"`, 415);
};
