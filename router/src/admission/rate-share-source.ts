/**
 * Where a router's shares of the keys' rates come from: it reports what it saw asked of each key
 * (its demand), and gets back its share of each key's limits. The control plane computes the
 * shares from every router's reports (@tei-fleet/core/admission's rule) behind
 * AdmissionService.RenewShares (control-plane-share-source.ts); share-coordinator.ts does the
 * same in memory. Renewal runs in the background (share-renewer.ts); a call never
 * waits for it.
 */

/** What a router saw asked of one key in a window. */
export interface KeyDemand {
  /** Calls that asked (admitted and refused). */
  readonly requests: number;
  /** TEI tokens its answered calls counted. */
  readonly tokens: number;
}

/** One router's demand report: what it saw since its previous report. */
export interface DemandReport {
  /** The reporting router (stable for the process's life). */
  readonly router: string;
  /** Length of the window the counts cover, ms. */
  readonly windowMs: number;
  /** Demand per key, by limitId (its id, else its hash); keys nobody called are left out. */
  readonly keys: ReadonlyMap<string, KeyDemand>;
}

/** A router's shares, as the source grants them. */
export interface ShareGrant {
  /** Routers sharing the fleet's keys now: a key the grant does not name gets 1/routers. */
  readonly routers: number;
  /** This router's share of each key's limits (a fraction in (0, 1]), by limitId. */
  readonly shares: ReadonlyMap<string, number>;
}

/** A source of shares (the control plane; an in-memory coordinator in tests). */
export interface RateShareSource {
  /**
   * Reports `report` and returns this router's shares. Rejects when the source cannot be
   * reached: the router then keeps the shares it last had.
   */
  renew(report: DemandReport): Promise<ShareGrant>;
}
