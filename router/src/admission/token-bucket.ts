/**
 * A token bucket on an injected clock: `rate` tokens per millisecond flow in up to `capacity`;
 * a request takes what it costs when the bucket holds it. It also lets a cost be charged after
 * the fact (tokens counted from TEI's answer), which may leave the bucket in debt: while it is,
 * nothing is taken. Equivalent to GCRA for unit costs, and exact about "80/s with a burst of 50":
 * no window edges, so no double bursts.
 */

/** One bucket. Mutable, allocation-free: the limiter keeps one per key and kind of limit. */
export class TokenBucket {
  /** Tokens per millisecond. */
  private rate: number;
  /** Most tokens the bucket holds (the burst). */
  private capacity: number;
  /** Tokens held at `at` (negative: in debt). */
  private level: number;
  private at: number;

  /**
   * @param perSecond - sustained rate, tokens per second (> 0)
   * @param capacity - the burst, tokens (at least 1 is kept, so any rate can admit something)
   * @param now - the clock's now (ms); the bucket starts full
   */
  constructor(perSecond: number, capacity: number, now: number) {
    this.rate = perSecond / 1000;
    this.capacity = Math.max(1, capacity);
    this.level = this.capacity;
    this.at = now;
  }

  /** Changes rate and burst (a new share, new limits), keeping what is held, capped at the new burst. */
  configure(perSecond: number, capacity: number, now: number): void {
    this.refill(now);
    this.rate = perSecond / 1000;
    this.capacity = Math.max(1, capacity);
    if (this.level > this.capacity) this.level = this.capacity;
  }

  /** Takes `cost` tokens when they are there; false (taking nothing) when not. */
  take(cost: number, now: number): boolean {
    this.refill(now);
    if (this.level < cost) return false;
    this.level -= cost;
    return true;
  }

  /** True while the bucket is not in debt (a limit charged after the fact admits until it is). */
  solvent(now: number): boolean {
    this.refill(now);
    return this.level > 0;
  }

  /** Charges `cost` now, whatever is held (the bucket may go into debt). */
  charge(cost: number, now: number): void {
    this.refill(now);
    this.level -= cost;
  }

  /** Milliseconds until the bucket holds `cost` tokens (0 when it does now); Infinity at rate 0. */
  waitMs(cost: number, now: number): number {
    this.refill(now);
    const missing = Math.min(cost, this.capacity) - this.level;
    if (missing <= 0) return 0;
    return this.rate > 0 ? missing / this.rate : Number.POSITIVE_INFINITY;
  }

  /** Tokens held now. */
  tokens(now: number): number {
    this.refill(now);
    return this.level;
  }

  private refill(now: number): void {
    const dt = now - this.at;
    if (dt <= 0) return;
    this.at = now;
    const level = this.level + dt * this.rate;
    this.level = Math.min(level, this.capacity);
  }
}
