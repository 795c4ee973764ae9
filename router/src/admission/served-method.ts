/**
 * Admission step: the path names a method the router serves (tei.v1's and the multiplexer's,
 * method-table.ts). An unknown path, and a known method the router does not serve (the
 * multiplexer's Arrow methods), are UNIMPLEMENTED, saying why.
 */
import { GrpcStatus, RouterError } from "../grpc/grpc-status.ts";
import type { AdmissionStep } from "./admission.ts";

/** Refuses a call without a served method. */
export const servedMethod: AdmissionStep = (call) => {
  const method = call.method;
  if (method === undefined) return new RouterError(GrpcStatus.UNIMPLEMENTED, `unknown method ${call.path}`);
  return method.unimplemented === undefined ? undefined : new RouterError(GrpcStatus.UNIMPLEMENTED, method.unimplemented);
};
