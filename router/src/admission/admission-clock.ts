/**
 * The time the admission steps run on: a monotonic clock for buckets, queues and deadlines, the
 * wall clock for key expiry, and timers for queued calls' deadlines and share renewal. Passed in,
 * never imported, so every test of a step runs on a clock it moves itself.
 */
import { performance } from "node:perf_hooks";

/** A timer started by {@link AdmissionClock.setTimer}. */
export type TimerHandle = unknown;

/** Time and timers, injected into every admission step that needs them. */
export interface AdmissionClock {
  /** Monotonic milliseconds (performance.now() in production; the same origin as AdmissionCall.startedAt). */
  now(): number;
  /** Wall-clock epoch milliseconds (Date.now() in production): what key expiry dates compare with. */
  wallNow(): number;
  /** Runs `fn` once after `ms`; the timer must not keep the process alive. */
  setTimer(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer that has not run yet. */
  clearTimer(handle: TimerHandle): void;
}

/** The process's clocks and unref'd timers. */
export const SYSTEM_CLOCK: AdmissionClock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimer(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
