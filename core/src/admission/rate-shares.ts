/**
 * How a key's fleet-wide rate is split between the routers that serve it: each router enforces
 * its share locally (token buckets, the router's key-rate-limiter.ts), with no round trip per
 * call, and the shares follow where the key's traffic goes. The control plane computes the
 * shares from the routers' demand reports (AdmissionService.RenewShares); the router's in-memory
 * coordinator and its simulations apply the same functions, so the rule cannot drift.
 *
 * The rule is demand-proportional with a floor. Every router keeps a small floor (a fraction of
 * an even split), so traffic that moves to a router between two renewals is admitted at once
 * (the floor plus its burst) instead of refused until the next renewal. The rest is split in
 * proportion to what each router saw asked (admitted and refused: refusals are demand too,
 * otherwise a starved router could never win back its share). Why proportional is exact: when
 * the key is over its limit, every router's demand exceeds its share, so each admits its whole
 * share and together they admit the rate; when it is under, every router's share exceeds its
 * demand, so nothing is refused. The floor is the only waste: at most floorFraction of the rate,
 * held by routers that see no traffic.
 */

/** The floor's default: 5% of the rate, spread evenly over the routers. */
export const DEFAULT_FLOOR_FRACTION = 0.05;

/** What the newest window counts for in a router's smoothed demand, by default. */
export const DEFAULT_DEMAND_SMOOTHING = 0.5;

/**
 * Splits one key's rate between routers.
 * @param demands - what each router saw asked of the key in the last window (any unit, ≥ 0;
 *   requests per second in practice), one entry per router that serves the key
 * @param floorFraction - the part of the rate spread evenly whatever the demand, in [0, 1]
 * @returns each router's share, a fraction of the key's rate, in the order of `demands`,
 *   summing to 1; an even split when nobody asked anything
 */
export function assignShares(demands: readonly number[], floorFraction = DEFAULT_FLOOR_FRACTION): number[] {
  const n = demands.length;
  if (n === 0) return [];
  let total = 0;
  for (const d of demands) total += Math.max(d, 0);
  if (total === 0) return demands.map(() => 1 / n);
  const floor = Math.min(1, Math.max(0, floorFraction));
  const each = floor / n;
  const rest = 1 - floor;
  return demands.map((d) => each + (rest * Math.max(d, 0)) / total);
}

/**
 * One reporting router's share of a key when `routers` routers serve and only the routers of
 * `demands` have reported: those yet to report keep an even split each (1/routers, what a router
 * enforces before its first grant), and the reporters divide the rest by {@link assignShares}.
 * Without that reservation the first router to report would be granted the whole rate while the
 * others still enforce theirs.
 * @param demands - the reporters' demands for the key (the reporting router's included)
 * @param mine - the reporting router's index in `demands`
 * @param routers - routers serving, at least `demands.length`
 * @returns a fraction of the key's rate in [0, 1]
 */
export function reporterShare(demands: readonly number[], mine: number, routers: number, floorFraction = DEFAULT_FLOOR_FRACTION): number {
  const all = Math.max(routers, demands.length, 1);
  return (demands.length / all) * (assignShares(demands, floorFraction)[mine] ?? 0);
}

/**
 * Smooths a router's demand across windows (an exponentially weighted mean), so a share does not
 * swing on one noisy window; `weight` is what the newest window counts for.
 */
export function smoothDemand(previous: number | undefined, observed: number, weight = DEFAULT_DEMAND_SMOOTHING): number {
  return previous === undefined ? observed : previous + weight * (observed - previous);
}
