/** A gRPC call as the HTTP/2 layer hands it to the admission chain, for unit tests of the steps. */
import { type Admission, type AdmissionCall, admissionCall } from "../../src/admission/admission.ts";
import { RouterError } from "../../src/grpc/grpc-status.ts";
import { METHODS } from "../../src/tei/method-table.ts";

/** A gRPC call as the HTTP/2 layer hands it over: POST, gRPC's content-type, `extra` headers on top. */
export function grpcCall(path: string, extra: Record<string, string> = {}): AdmissionCall {
  const fields: Record<string, string> = { ":method": "POST", ":scheme": "http", ":path": path, "content-type": "application/grpc", te: "trailers", ...extra };
  return admissionCall(path, Object.entries(fields).flat(), METHODS.get(path));
}

/** The refusal a step returned synchronously (fails the test on anything else). */
export function refusal(decision: Admission): RouterError {
  if (!(decision instanceof RouterError)) throw new Error(`expected a refusal, got ${String(decision)}`);
  return decision;
}
