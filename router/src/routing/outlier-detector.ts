/**
 * Passive outlier detection (Envoy's consecutive-errors policy, nginx's max_fails): a replica
 * whose calls fail with connection errors or UNAVAILABLE several times in a row is taken out of
 * rotation for a while, then tried again. Each ejection is reported so the control plane can
 * look at the instance; the router never waits for that report.
 */
import type { Replica } from "./replica.ts";

/** Options of the detector; every field has a default. */
export interface OutlierOptions {
  /** Consecutive failures that eject a replica. Default 5 (Envoy's default). */
  consecutiveFailures?: number;
  /** First ejection time; doubles with each repeated ejection. Default 30 000 ms (Envoy's). */
  baseEjectionMs?: number;
  /** Upper bound of the ejection time. Default 300 000 ms. */
  maxEjectionMs?: number;
  /** Called once per ejection (metrics, logging, the control-plane report). */
  onEject?: (replica: Replica, reason: string, ejectionMs: number) => void;
}

/** Counts failures per replica and ejects outliers. State lives on the Replica objects. */
export class OutlierDetector {
  private readonly threshold: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly onEject: ((replica: Replica, reason: string, ejectionMs: number) => void) | undefined;

  constructor(opts: OutlierOptions = {}) {
    this.threshold = opts.consecutiveFailures ?? 5;
    this.baseMs = opts.baseEjectionMs ?? 30_000;
    this.maxMs = opts.maxEjectionMs ?? 300_000;
    this.onEject = opts.onEject;
  }

  /** A call reached the replica and got an answer other than UNAVAILABLE. */
  success(r: Replica): void {
    // Two stores on the hot path; no branch on ejection state needed.
    r.failures = 0;
    r.ejections = 0;
  }

  /** A call failed on the replica for an infrastructure reason. */
  failure(r: Replica, reason: string): void {
    r.failures++;
    if (r.failures < this.threshold || r.ejectedUntil > Date.now()) return;
    r.ejections++;
    const ms = Math.min(this.baseMs * 2 ** (r.ejections - 1), this.maxMs);
    r.ejectedUntil = Date.now() + ms;
    r.failures = 0;
    this.onEject?.(r, reason, ms);
  }
}
