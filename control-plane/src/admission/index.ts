/**
 * Fleet-wide rate limits (admission.proto): the control plane splits each API key's limits
 * between the routers that enforce them, in proportion to the demand each reports, by the rule
 * in @tei-fleet/core/admission. Reports live in Redis with a TTL (share-store.ts), so several
 * control-plane copies answer alike and a router that stops reporting drops out.
 */
export { admissionConnectRoutes } from "./admission-connect.ts";
export { type DemandReport, parseDemandReport } from "./demand-report.ts";
export type { Grant, ShareRecord } from "./share-grants.ts";
export { createShareStore, type ShareStore, type ShareStoreOptions } from "./share-store.ts";
