/**
 * How long a call may still wait: the router's request timeout (default 120 s, seed 003's
 * `request_timeout_s`), shortened by the caller's own `grpc-timeout`, both counted from the
 * call's arrival. Read only for a call that has to wait, so a call admitted at once parses
 * nothing.
 */
import { parseGrpcTimeout } from "../grpc/grpc-timeout.ts";
import { headerValue } from "../h2/index.ts";
import type { AdmissionCall } from "./admission.ts";

/** Milliseconds left before `call`'s deadline at `now` (≤ 0: passed). */
export function remainingMs(call: AdmissionCall, requestTimeoutMs: number, now: number): number {
  const callerMs = parseGrpcTimeout(headerValue(call.headers, "grpc-timeout"));
  const budget = callerMs !== undefined && callerMs < requestTimeoutMs ? callerMs : requestTimeoutMs;
  return budget - (now - call.startedAt);
}
