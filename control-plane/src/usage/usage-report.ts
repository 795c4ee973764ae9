/**
 * A router's usage report (AdmissionService.ReportUsage) checked field by field, or an ApiError
 * naming the field at fault (INVALID_ARGUMENT with `x-error-field` on the wire).
 */
import type { ReportUsageRequest } from "@tei-fleet/proto/fleet/v1";
import { MAX_ROUTER_ID_LENGTH } from "../admission/demand-report.ts";
import { ApiError } from "../errors/api-error.ts";

const ROUTER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/@-]*$/;
/** Key ids as Redis key parts: printable, no spaces. */
const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]*$/;
export const MAX_KEY_ID_LENGTH = 128;
export const MAX_MODEL_LENGTH = 256;
/** Most (key, model) entries one report may hold. */
export const MAX_USAGE_ENTRIES = 10_000;
/** Refusal reasons a router may report. */
export const REFUSAL_REASONS = ["rate_limited", "queue_full", "deadline", "unauthenticated", "permission_denied"] as const;
const REASONS = new Set<string>(REFUSAL_REASONS);
/** Largest count one entry may carry (exact in a double, and in Redis' 64-bit HINCRBY). */
const MAX_COUNT = BigInt(Number.MAX_SAFE_INTEGER);

/** One checked entry: counters by field name (`requests`, `inputs`, `tokens`, `refused:{reason}`). */
export interface UsageEntry {
  readonly keyId: string;
  readonly model: string;
  readonly counts: ReadonlyMap<string, number>;
}

/** A checked report. */
export interface UsageReport {
  readonly router: string;
  readonly sequence: number;
  readonly entries: readonly UsageEntry[];
}

function count(v: bigint, field: string): number {
  if (v > MAX_COUNT) throw new ApiError("VALIDATION_ERROR", `${field} must be at most ${MAX_COUNT}`, { field });
  return Number(v);
}

/**
 * Checks a ReportUsage request.
 * @throws ApiError naming `router_id`, `sequence`, `usage`, `usage.3.key_id`, `usage.3.model`,
 *   `usage.3.tokens`, `usage.3.refused.{reason}`
 */
export function parseUsageReport(req: ReportUsageRequest): UsageReport {
  const router = req.routerId;
  if (router === "") throw new ApiError("MISSING_FIELD", "router_id is required", { field: "router_id" });
  if (router.length > MAX_ROUTER_ID_LENGTH || !ROUTER_ID_PATTERN.test(router)) {
    throw new ApiError("VALIDATION_ERROR", `router_id must be 1 to ${MAX_ROUTER_ID_LENGTH} letters, digits and . _ : / @ -, starting with a letter or digit`, {
      field: "router_id",
    });
  }
  if (req.sequence < 1n || req.sequence > MAX_COUNT)
    throw new ApiError("VALIDATION_ERROR", `sequence must be between 1 and ${MAX_COUNT}`, { field: "sequence" });
  if (req.usage.length > MAX_USAGE_ENTRIES) {
    throw new ApiError("VALIDATION_ERROR", `usage may hold at most ${MAX_USAGE_ENTRIES} entries (got ${req.usage.length})`, { field: "usage" });
  }
  const seen = new Set<string>();
  const entries = req.usage.map((u, i): UsageEntry => {
    const at = `usage.${i}`;
    if (u.keyId === "") throw new ApiError("MISSING_FIELD", `${at}.key_id is required`, { field: `${at}.key_id` });
    if (u.keyId.length > MAX_KEY_ID_LENGTH || !KEY_ID_PATTERN.test(u.keyId)) {
      throw new ApiError("VALIDATION_ERROR", `${at}.key_id must be 1 to ${MAX_KEY_ID_LENGTH} letters, digits and . _ : @ -`, { field: `${at}.key_id` });
    }
    if (u.model.length > MAX_MODEL_LENGTH || u.model.includes("|") || /[\s\p{Cc}]/u.test(u.model)) {
      throw new ApiError("VALIDATION_ERROR", `${at}.model must be at most ${MAX_MODEL_LENGTH} characters, without "|", spaces or control characters`, {
        field: `${at}.model`,
      });
    }
    const pair = `${u.keyId}\n${u.model}`;
    if (seen.has(pair)) throw new ApiError("VALIDATION_ERROR", `${at} repeats the key_id and model of an earlier entry`, { field: `${at}.model` });
    seen.add(pair);
    const counts = new Map<string, number>();
    const put = (name: string, v: bigint, field: string) => {
      const n = count(v, field);
      if (n > 0) counts.set(name, n);
    };
    put("requests", u.requests, `${at}.requests`);
    put("inputs", u.inputs, `${at}.inputs`);
    put("tokens", u.tokens, `${at}.tokens`);
    for (const [reason, v] of Object.entries(u.refused)) {
      if (!REASONS.has(reason)) {
        throw new ApiError("VALIDATION_ERROR", `${at}.refused has an unknown reason "${reason.slice(0, 64)}" (one of ${REFUSAL_REASONS.join(", ")})`, {
          field: `${at}.refused`,
        });
      }
      put(`refused:${reason}`, v, `${at}.refused.${reason}`);
    }
    return { keyId: u.keyId, model: u.model, counts };
  });
  return { router, sequence: Number(req.sequence), entries };
}
