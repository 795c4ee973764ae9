/**
 * The share computation over stored reports, pure (share-store.ts does the I/O): a router's new
 * smoothed demand from its previous record and its report, and its shares of every key it has
 * demand for, by the one rule in @tei-fleet/core/admission (`reporterShare`: demand-proportional
 * with a floor, an even split reserved for routers counted but not reporting).
 */
import { DEFAULT_DEMAND_SMOOTHING, DEFAULT_FLOOR_FRACTION, reporterShare, smoothDemand } from "@tei-fleet/core/admission";
import type { DemandReport } from "./demand-report.ts";

/** A router's stored report: its smoothed demand and the router count it assumes. */
export interface ShareRecord {
  /** Smoothed requests per second, by limit id. */
  readonly d: Record<string, number>;
  /** The router count the router assumes (RenewSharesRequest.router_count, ≥ 1). */
  readonly n: number;
}

/** A smoothed demand below this (requests/s) of a key the router no longer reports is dropped. */
const NEGLIGIBLE_PER_SECOND = 0.01;

/**
 * The router's record after `report`: keys it reported are smoothed towards their rate in the
 * window; keys it reported before but not now decay towards 0 (an empty window says 0), and are
 * forgotten once negligible, so a record holds only keys the router still sees.
 */
export function nextRecord(previous: ShareRecord | undefined, report: DemandReport, smoothing = DEFAULT_DEMAND_SMOOTHING): ShareRecord {
  const seconds = report.windowMs / 1000;
  const d: Record<string, number> = {};
  for (const [id, prev] of Object.entries(previous?.d ?? {})) {
    if (report.requests.has(id)) continue;
    const decayed = smoothDemand(prev, 0, smoothing);
    if (decayed >= NEGLIGIBLE_PER_SECOND) d[id] = decayed;
  }
  for (const [id, requests] of report.requests) d[id] = smoothDemand(previous?.d[id], requests / seconds, smoothing);
  return { d, n: report.routerCount };
}

/** A router's shares. */
export interface Grant {
  /** Routers counted: the live reporters, or more when a live report assumes more. */
  readonly routers: number;
  /** Its share of each key of its record, by limit id. */
  readonly shares: Map<string, number>;
}

/**
 * The shares of the router whose record is `live[mine]`, among the routers whose reports are
 * live. Every live reporter counts for every key (with 0 demand when it did not see it: it keeps
 * the floor); routers a live report assumes beyond the reporters keep an even split each.
 */
export function grantFor(live: readonly ShareRecord[], mine: number, floorFraction = DEFAULT_FLOOR_FRACTION): Grant {
  let routers = live.length;
  for (const r of live) routers = Math.max(routers, r.n);
  const shares = new Map<string, number>();
  const own = live[mine];
  if (own === undefined) return { routers, shares };
  const demands = new Array<number>(live.length);
  for (const id of Object.keys(own.d)) {
    for (let i = 0; i < live.length; i++) demands[i] = (live[i] as ShareRecord).d[id] ?? 0;
    shares.set(id, reporterShare(demands, mine, routers, floorFraction));
  }
  return { routers, shares };
}
