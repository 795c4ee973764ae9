/** A clock the test moves: monotonic and wall time, and timers that run as it passes them. */
import type { AdmissionClock } from "../../src/admission/admission-clock.ts";

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

/** An AdmissionClock under the test's control. */
export class FakeClock implements AdmissionClock {
  t = 1000;
  /** Wall time at t = 0. */
  wallOrigin = 1_800_000_000_000;
  private timers: Timer[] = [];
  private seq = 0;

  now(): number {
    return this.t;
  }

  wallNow(): number {
    return this.wallOrigin + this.t;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const timer = { at: this.t + ms, seq: this.seq++, fn };
    this.timers.push(timer);
    return timer;
  }

  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }

  /** Timers not yet run. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time on by `ms`, running each timer due on the way at its own time, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
  }
}
