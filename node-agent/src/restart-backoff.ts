/**
 * When to restart a TEI process that failed (exited, never became ready, failed its liveness
 * probe, fell back to the CPU). Exponential backoff with a cap, like the kubelet's CrashLoopBackOff,
 * plus a maximum rate: too many failures within a window puts the instance in `crash_loop`, where
 * it is retried only at the cap instead of burning a GPU forever.
 */

/** Restart policy knobs; every field has a default. */
export interface RestartPolicy {
  /** Delay before the first restart. Default 1000 ms. */
  initialDelayMs?: number;
  /** Cap of the delay, and the retry period in crash_loop. Default 300000 ms (5 min). */
  maxDelayMs?: number;
  /** Growth factor per consecutive failure. Default 2. */
  multiplier?: number;
  /** This many failures within {@link RestartPolicy.crashLoopWindowMs} means crash_loop. Default 5. */
  crashLoopFailures?: number;
  /** Default 600000 ms (10 min). */
  crashLoopWindowMs?: number;
  /** A process that has run healthily this long clears the failure history. Default 300000 ms. */
  resetAfterMs?: number;
}

/** The decision after a failure. */
export interface RestartDecision {
  /** Wait this long before starting again. */
  delayMs: number;
  /** The failure rate is past the limit: report `crash_loop`. */
  crashLoop: boolean;
  /** Consecutive failures so far (1 for the first). */
  consecutiveFailures: number;
}

/** Tracks one instance's failures and decides restart delays. */
export class RestartBackoff {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly multiplier: number;
  readonly crashLoopFailures: number;
  readonly crashLoopWindowMs: number;
  readonly resetAfterMs: number;
  #failures: number[] = [];
  #consecutive = 0;

  constructor(policy: RestartPolicy = {}) {
    this.initialDelayMs = policy.initialDelayMs ?? 1_000;
    this.maxDelayMs = policy.maxDelayMs ?? 300_000;
    this.multiplier = policy.multiplier ?? 2;
    this.crashLoopFailures = policy.crashLoopFailures ?? 5;
    this.crashLoopWindowMs = policy.crashLoopWindowMs ?? 600_000;
    this.resetAfterMs = policy.resetAfterMs ?? 300_000;
  }

  /** Records a failure at `nowMs` and returns when to try again. */
  recordFailure(nowMs: number): RestartDecision {
    this.#consecutive += 1;
    this.#failures.push(nowMs);
    this.#failures = this.#failures.filter((t) => nowMs - t < this.crashLoopWindowMs);
    const crashLoop = this.#failures.length >= this.crashLoopFailures;
    const exponential = this.initialDelayMs * this.multiplier ** (this.#consecutive - 1);
    const delayMs = crashLoop ? this.maxDelayMs : Math.min(this.maxDelayMs, exponential);
    return { delayMs, crashLoop, consecutiveFailures: this.#consecutive };
  }

  /**
   * Called while the process runs healthily: once it has done so for
   * {@link RestartPolicy.resetAfterMs}, earlier failures are forgotten.
   */
  recordHealthy(runningSinceMs: number, nowMs: number): void {
    if (this.#consecutive > 0 && nowMs - runningSinceMs >= this.resetAfterMs) this.reset();
  }

  /** Forgets all failures (e.g. the assignment changed). */
  reset(): void {
    this.#failures = [];
    this.#consecutive = 0;
  }

  /** Consecutive failures since the last reset. */
  get consecutiveFailures(): number {
    return this.#consecutive;
  }
}
