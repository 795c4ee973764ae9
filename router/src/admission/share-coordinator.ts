/**
 * The share computation a control plane runs, in memory: it keeps each router's latest demand
 * report (smoothed over windows), and answers every router with its shares of every key it
 * reported, by the demand-proportional rule of @tei-fleet/core/admission. Routers that stopped reporting
 * drop out after `expireMs`. A router known to serve (it joined: the control plane knows its
 * routers by their watches) but that has not reported yet keeps an even split, what it enforces
 * before its first grant; the others divide the rest. Without that reservation, the first
 * router to report would be granted the whole rate while the others still enforced their 1/N. Used by the simulations that measure fleet-wide accuracy, and as the
 * reference for the control plane's endpoint.
 */
import { DEFAULT_FLOOR_FRACTION, reporterShare, smoothDemand } from "@tei-fleet/core/admission";
import type { AdmissionClock } from "./admission-clock.ts";
import type { DemandReport, RateShareSource, ShareGrant } from "./rate-share-source.ts";

/** Options of a {@link ShareCoordinator}. */
export interface ShareCoordinatorOptions {
  /** Where time comes from (reports expire by it). */
  readonly clock: Pick<AdmissionClock, "now">;
  /** A router silent this long no longer counts. Default 5000 ms. */
  readonly expireMs?: number;
  /** See assignShares. Default 0.05. */
  readonly floorFraction?: number;
  /** What the newest window counts for in a router's smoothed demand. Default 0.5. */
  readonly smoothing?: number;
}

interface RouterDemand {
  seenAt: number;
  /** It has reported at least once (before: it holds an even split). */
  reported: boolean;
  /** Smoothed requests per second, by key hash. */
  perSecond: Map<string, number>;
}

/** Computes every router's shares from their reports. */
export class ShareCoordinator {
  private readonly routers = new Map<string, RouterDemand>();
  private readonly clock: Pick<AdmissionClock, "now">;
  private readonly expireMs: number;
  private readonly floor: number;
  private readonly smoothing: number;

  constructor(o: ShareCoordinatorOptions) {
    this.clock = o.clock;
    this.expireMs = o.expireMs ?? 5000;
    this.floor = o.floorFraction ?? DEFAULT_FLOOR_FRACTION;
    this.smoothing = o.smoothing ?? 0.5;
  }

  /** Notes a router that serves before it reports (its even split is reserved until it does). */
  join(router: string): void {
    if (!this.routers.has(router)) this.routers.set(router, { seenAt: this.clock.now(), reported: false, perSecond: new Map() });
  }

  /** Takes one router's report and returns its shares. */
  report(r: DemandReport): ShareGrant {
    const now = this.clock.now();
    const mine = this.routers.get(r.router) ?? { seenAt: now, reported: false, perSecond: new Map<string, number>() };
    this.routers.set(r.router, mine);
    mine.seenAt = now;
    mine.reported = true;
    const seconds = Math.max(r.windowMs, 1) / 1000;
    // Keys it reported nothing for decay towards 0, as an empty window says.
    for (const [hash, prev] of mine.perSecond) if (!r.keys.has(hash)) mine.perSecond.set(hash, smoothDemand(prev, 0, this.smoothing));
    for (const [hash, d] of r.keys) mine.perSecond.set(hash, smoothDemand(mine.perSecond.get(hash), d.requests / seconds, this.smoothing));
    for (const [name, rd] of this.routers) if (now - rd.seenAt > this.expireMs) this.routers.delete(name);
    const all = this.routers.size;
    const reporting = [...this.routers.values()].filter((rd) => rd.reported);
    // What routers yet to report hold (1/N each) is not the reporters' to divide (reporterShare).
    const shares = new Map<string, number>();
    for (const hash of mine.perSecond.keys()) {
      const demands = reporting.map((rd) => rd.perSecond.get(hash) ?? 0);
      shares.set(hash, reporterShare(demands, reporting.indexOf(mine), all, this.floor));
    }
    return { routers: all, shares };
  }

  /** A share source for one router, answering from this coordinator. */
  sourceFor(): RateShareSource {
    return { renew: async (report) => this.report(report) };
  }
}
