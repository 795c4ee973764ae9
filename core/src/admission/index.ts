/**
 * Admission's shared rules (`@tei-fleet/core/admission`): how a key's fleet-wide rate limit is
 * split between the routers that enforce it. The control plane grants the shares, routers (and
 * their simulations) apply the same rule.
 */
export { assignShares, DEFAULT_DEMAND_SMOOTHING, DEFAULT_FLOOR_FRACTION, reporterShare, smoothDemand } from "./rate-shares.ts";
