/**
 * Admission step: a call presenting an API key is held to the key's limits (key-rate-limiter.ts)
 * at this router's share of them; over them, it is refused RESOURCE_EXHAUSTED with a retry hint.
 * A call of a key with a tokens-per-minute limit asks the backend attempt for TEI's token count
 * and is charged it when it ends. Anonymous calls (keys not required) pass. Runs after
 * api-key-check.ts, before the queue.
 */
import { type AdmissionStep, onCallEnd } from "./admission.ts";
import type { AdmissionClock } from "./admission-clock.ts";
import type { KeyRateLimiter } from "./key-rate-limiter.ts";

/** The step enforcing `limiter` on `clock`. */
export function createRateLimit(limiter: KeyRateLimiter, clock: Pick<AdmissionClock, "now">): AdmissionStep {
  return (call) => {
    const key = call.key;
    if (key === null) return undefined;
    const refusal = limiter.admit(key, clock.now());
    if (refusal !== undefined) return refusal;
    if (limiter.countsTokens(key)) {
      call.computeTokens = 0; // asks the backend attempt to note x-compute-tokens
      onCallEnd(call, limiter.onCounted);
    }
    return undefined;
  };
}
