/**
 * Admission step: a plain tei.v1 call names its target in metadata (`x-tei-instance`,
 * `x-tei-model`, `x-tei-index`, target.ts); it is read here once and noted on the call, so later
 * steps (a per-model limit) and the proxy see it. A missing or malformed target is
 * INVALID_ARGUMENT. Multiplexer calls pass untouched: their first message names the target.
 * Runs after served-method.ts (it needs the method).
 */
import { RouterError } from "../grpc/grpc-status.ts";
import { targetFromHeaders } from "../tei/target.ts";
import type { AdmissionStep } from "./admission.ts";

/** Sets `call.target` from metadata, or refuses the call. */
export const metadataTarget: AdmissionStep = (call) => {
  const method = call.method;
  if (method === undefined || method.mux) return undefined;
  try {
    call.target = targetFromHeaders(call.headers);
    return undefined;
  } catch (err) {
    if (err instanceof RouterError) return err;
    throw err;
  }
};
