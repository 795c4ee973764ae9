/**
 * Admission step: a call presenting an API key is held to the key's limits (key-rate-limiter.ts)
 * at this router's share of them; over them, it is refused RESOURCE_EXHAUSTED with a retry hint.
 * A call of a key with a tokens-per-minute limit asks the backend attempt for TEI's token count
 * and is charged it when it ends. Anonymous calls (keys not required) pass. Runs after
 * api-key-check.ts, before the queue.
 */
import { GrpcStatus } from "../grpc/grpc-status.ts";
import { type AdmissionCall, type AdmissionStep, onCallEnd } from "./admission.ts";
import type { AdmissionClock } from "./admission-clock.ts";
import type { CallModels } from "./call-model.ts";
import type { KeyRateLimiter } from "./key-rate-limiter.ts";
import type { UsageMeter } from "./usage-meter.ts";

/**
 * Where keyed calls' usage is counted (usage-meter.ts): a call refused here is counted
 * rate_limited; an admitted one has its tokens noted and, when it ends, is counted answered (OK),
 * queue_full (RESOURCE_EXHAUSTED from a later step or TEI) or deadline (DEADLINE_EXCEEDED).
 * Inputs: one per answered call (a tei.v1 call embeds one input).
 */
export interface RateLimitUsage {
  readonly meter: UsageMeter;
  readonly models: Pick<CallModels, "of">;
}

/** The step enforcing `limiter` on `clock`. */
export function createRateLimit(limiter: KeyRateLimiter, clock: Pick<AdmissionClock, "now">, usage?: RateLimitUsage): AdmissionStep {
  const meter = usage?.meter;
  const modelOf = (call: AdmissionCall) => usage?.models.of(call.target) ?? "";
  // One end hook for every metered call: nothing allocated per call.
  const metered = (code: number, call: AdmissionCall): void => {
    const key = call.key;
    if (key === null || meter === undefined) return;
    if (limiter.countsTokens(key)) limiter.onCounted(code, call);
    if (code === GrpcStatus.OK) meter.answered(key, modelOf(call), call.inputs, call.computeTokens);
    else if (code === GrpcStatus.RESOURCE_EXHAUSTED) meter.refused(key, modelOf(call), "queue_full");
    else if (code === GrpcStatus.DEADLINE_EXCEEDED) meter.refused(key, modelOf(call), "deadline");
  };
  return (call) => {
    const key = call.key;
    if (key === null) return undefined;
    const refusal = limiter.admit(key, clock.now());
    if (refusal !== undefined) {
      meter?.refused(key, modelOf(call), "rate_limited");
      return refusal;
    }
    if (meter !== undefined) {
      call.computeTokens = 0; // asks the backend attempt to note x-compute-tokens
      onCallEnd(call, metered);
    } else if (limiter.countsTokens(key)) {
      call.computeTokens = 0;
      onCallEnd(call, limiter.onCounted);
    }
    return undefined;
  };
}
