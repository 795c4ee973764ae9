/**
 * Renews this router's shares of the keys' limits in the background: every interval it reports
 * the demand the limiter counted since the last report to the share source and applies the
 * grant it answers. A source that cannot be reached changes nothing: the limiter keeps the
 * shares it last had (or the even split it started with), and the next interval tries again. A
 * call never waits for any of this.
 */
import type { AdmissionClock, TimerHandle } from "./admission-clock.ts";
import type { KeyRateLimiter } from "./key-rate-limiter.ts";
import type { RateShareSource } from "./rate-share-source.ts";

/** Options of a {@link ShareRenewer}. */
export interface ShareRenewerOptions {
  readonly source: RateShareSource;
  readonly limiter: KeyRateLimiter;
  readonly clock: AdmissionClock;
  /** This router's name in its reports. */
  readonly router: string;
  /** Renewal period. Default 1000 ms. */
  readonly intervalMs?: number;
  /** Told when the source stops or starts answering again (never with keys or hashes). */
  readonly onSourceChange?: (reachable: boolean, err?: unknown) => void;
}

/** The background renewal of one router's shares. */
export class ShareRenewer {
  private readonly o: ShareRenewerOptions;
  private readonly intervalMs: number;
  private timer: TimerHandle | null = null;
  private lastReportAt: number;
  private pending = false;
  private reachable = true;
  private stopped = true;

  constructor(o: ShareRenewerOptions) {
    this.o = o;
    this.intervalMs = o.intervalMs ?? 1000;
    this.lastReportAt = o.clock.now();
  }

  /** Starts renewing every interval. */
  start(): void {
    this.stopped = false;
    this.schedule();
  }

  /** Stops renewing (the shares last applied stay). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.o.clock.clearTimer(this.timer);
    this.timer = null;
  }

  /** Reports now and applies the answer; resolves once done (whether or not the source answered). */
  async renewNow(): Promise<void> {
    if (this.pending) return; // a slow source: one report at a time
    this.pending = true;
    const { clock, limiter, source } = this.o;
    const now = clock.now();
    const report = { router: this.o.router, windowMs: now - this.lastReportAt, keys: limiter.takeDemand() };
    this.lastReportAt = now;
    try {
      const grant = await source.renew(report);
      limiter.applyGrant(grant, clock.now());
      if (!this.reachable) {
        this.reachable = true;
        this.o.onSourceChange?.(true);
      }
    } catch (err) {
      if (this.reachable) {
        this.reachable = false;
        this.o.onSourceChange?.(false, err);
      }
    } finally {
      this.pending = false;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.o.clock.setTimer(() => {
      this.timer = null;
      void this.renewNow().finally(() => this.schedule());
    }, this.intervalMs);
  }
}
