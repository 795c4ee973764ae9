/**
 * A router's demand report (AdmissionService.RenewShares) checked field by field: what the share
 * computation may rely on, or an ApiError naming the field at fault (INVALID_ARGUMENT on the
 * wire). A limit id may be a key's hash: messages never repeat limit ids.
 */
import type { RenewSharesRequest } from "@tei-fleet/proto/fleet/v1";
import { ApiError } from "../errors/api-error.ts";

/** Longest router id (a host name, a pid and a nonce fit with room to spare). */
export const MAX_ROUTER_ID_LENGTH = 253;
/** Router ids: printable, no spaces, usable in a Redis key. */
const ROUTER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/@-]*$/;
/** Longest limit id: a key id, or a SHA-256 in hex (64). */
export const MAX_LIMIT_ID_LENGTH = 128;
/** Most keys one report may name. */
export const MAX_REPORT_KEYS = 10_000;
/** Longest window a report may cover (a router away longer reports a fresh window). */
export const MAX_WINDOW_MS = 3_600_000;
/** Largest router count a router may assume. */
export const MAX_ROUTER_COUNT = 10_000;

/** A checked report. */
export interface DemandReport {
  readonly router: string;
  readonly windowMs: number;
  /** Requests per limit id in the window. */
  readonly requests: ReadonlyMap<string, number>;
  /** Routers the reporter assumes (≥ 1). */
  readonly routerCount: number;
}

/**
 * Checks a RenewShares request.
 * @throws ApiError MISSING_FIELD or VALIDATION_ERROR with the field (`router_id`, `window_ms`,
 *   `keys`, `keys.3.limit_id`, `router_count`)
 */
export function parseDemandReport(req: RenewSharesRequest): DemandReport {
  const router = req.routerId;
  if (router === "") throw new ApiError("MISSING_FIELD", "router_id is required", { field: "router_id" });
  if (router.length > MAX_ROUTER_ID_LENGTH || !ROUTER_ID_PATTERN.test(router)) {
    throw new ApiError("VALIDATION_ERROR", `router_id must be 1 to ${MAX_ROUTER_ID_LENGTH} letters, digits and . _ : / @ -, starting with a letter or digit`, {
      field: "router_id",
    });
  }
  if (req.windowMs < 1 || req.windowMs > MAX_WINDOW_MS) {
    throw new ApiError("VALIDATION_ERROR", `window_ms must be between 1 and ${MAX_WINDOW_MS} (got ${req.windowMs})`, { field: "window_ms" });
  }
  if (req.keys.length > MAX_REPORT_KEYS)
    throw new ApiError("VALIDATION_ERROR", `keys may name at most ${MAX_REPORT_KEYS} keys (got ${req.keys.length})`, { field: "keys" });
  if (req.routerCount > MAX_ROUTER_COUNT) {
    throw new ApiError("VALIDATION_ERROR", `router_count must be at most ${MAX_ROUTER_COUNT} (got ${req.routerCount})`, { field: "router_count" });
  }
  const requests = new Map<string, number>();
  req.keys.forEach((k, i) => {
    const field = `keys.${i}.limit_id`;
    if (k.limitId === "") throw new ApiError("MISSING_FIELD", `${field} is required`, { field });
    if (k.limitId.length > MAX_LIMIT_ID_LENGTH) throw new ApiError("VALIDATION_ERROR", `${field} must be at most ${MAX_LIMIT_ID_LENGTH} characters`, { field });
    if (requests.has(k.limitId)) throw new ApiError("VALIDATION_ERROR", `${field} repeats the limit id of an earlier entry`, { field });
    requests.set(k.limitId, Number(k.requests));
  });
  return { router, windowMs: req.windowMs, requests, routerCount: Math.max(1, req.routerCount) };
}
