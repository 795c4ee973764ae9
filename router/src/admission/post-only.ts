/**
 * Admission step: a gRPC call is an HTTP POST (gRPC over HTTP/2); anything else is answered 405
 * with UNIMPLEMENTED, as gRPC servers do.
 */
import { GrpcStatus, RouterError } from "../grpc/grpc-status.ts";
import { headerValue } from "../h2/index.ts";
import type { AdmissionStep } from "./admission.ts";

/** Refuses a request whose `:method` is not POST. */
export const postOnly: AdmissionStep = (call) => {
  const verb = headerValue(call.headers, ":method");
  return verb === "POST" ? undefined : new RouterError(GrpcStatus.UNIMPLEMENTED, `gRPC calls use POST, not ${verb}`, 405);
};
