/**
 * Reading usage for the API and the metrics: one key's usage by model, and every active key's
 * grouped by owner, key or model. Owners come from the keys' records (api-keys); a key deleted
 * since keeps its usage, under owner "".
 */
import { ApiKeySchema } from "@tei-fleet/proto/fleet/v1";
import type { Redis } from "ioredis";
import { ApiError } from "../errors/api-error.ts";
import type { KeySchema } from "../store/keys.ts";
import { decodeRecord } from "../store/record-codec.ts";
import { emptyUsage, HOUR_BUCKET_TTL_MS, type KeyUsageTotals, type ModelUsage, type UsageStore } from "./usage-store.ts";

/** Most keys a grouped read or a scrape walks (the bound on the metrics' cardinality). */
export const MAX_ACTIVE_KEYS = 2000;
export const GROUP_BY = ["owner", "key", "model"] as const;
export type GroupBy = (typeof GROUP_BY)[number];

/** A checked period: both ends epoch ms, or none (all time). */
export type Period = { fromMs: number; toMs: number } | undefined;

function instant(raw: string, field: string): number {
  const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(ms)) throw new ApiError("VALIDATION_ERROR", `${field} must be epoch milliseconds or an ISO 8601 time`, { field });
  return ms;
}

/**
 * Checks `from`/`to` (epoch ms or ISO 8601; `to` defaults to now). Hourly buckets are kept 35
 * days, so a period may not start earlier.
 */
export function parsePeriod(from: string | undefined, to: string | undefined, now = Date.now()): Period {
  if (from === undefined || from === "") {
    if (to !== undefined && to !== "") throw new ApiError("MISSING_FIELD", "from is required with to", { field: "from" });
    return undefined;
  }
  const fromMs = instant(from, "from");
  const toMs = to === undefined || to === "" ? now : instant(to, "to");
  if (toMs <= fromMs) throw new ApiError("VALIDATION_ERROR", "to must be after from", { field: "to" });
  if (fromMs < now - HOUR_BUCKET_TTL_MS - 3_600_000)
    throw new ApiError("VALIDATION_ERROR", "from must be within the last 35 days (hourly usage is kept 35 days)", { field: "from" });
  return { fromMs, toMs };
}

export interface UsageRow extends ModelUsage {
  model: string;
}

const rows = (t: KeyUsageTotals): UsageRow[] => [...t].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([model, u]) => ({ model, ...u }));

function add(into: ModelUsage, u: ModelUsage): void {
  into.requests += u.requests;
  into.inputs += u.inputs;
  into.tokens += u.tokens;
  for (const [r, n] of Object.entries(u.refused)) into.refused[r] = (into.refused[r] ?? 0) + n;
}

export function sumOf(t: KeyUsageTotals): ModelUsage {
  const s = emptyUsage();
  for (const u of t.values()) add(s, u);
  return s;
}

/** Key id → owner (from the records; "" for keys without one or gone). */
export async function ownersOf(redis: Redis, keys: KeySchema, ids: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (ids.length === 0) return out;
  const values = await redis.hmget(keys.apiKeys(), ...ids);
  ids.forEach((id, i) => {
    const json = values[i];
    const d = json ? decodeRecord(ApiKeySchema, json) : undefined;
    out.set(id, d !== undefined && d.kind !== "unreadable" ? d.message.owner : "");
  });
  return out;
}

/** Usage reads over the store. */
export function createUsageQuery(redis: Redis, keys: KeySchema, store: UsageStore, now: () => number = Date.now) {
  return {
    /** One key's usage by model; NOT_FOUND when the key has neither a record nor usage. */
    async key(id: string, period: Period) {
      const [known, used] = await Promise.all([redis.hexists(keys.apiKeys(), id), redis.exists(keys.usage(id))]);
      if (known === 0 && used === 0) throw new ApiError("NOT_FOUND", `API key ${id} not found`, { field: "id" });
      const t = await store.read(id, period);
      return { key_id: id, ...periodJson(period), total: sumOf(t), models: rows(t) };
    },
    /** Every key active in the period (or the last 35 days), grouped. */
    async grouped(groupBy: GroupBy, period: Period) {
      const since = period?.fromMs ?? now() - HOUR_BUCKET_TTL_MS;
      const ids = await store.activeKeys(since, MAX_ACTIVE_KEYS);
      const owners = await ownersOf(redis, keys, ids);
      const groups = new Map<string, ModelUsage>();
      const total = emptyUsage();
      const all = await store.readMany(ids, period);
      for (const [i, id] of ids.entries()) {
        for (const [model, u] of all[i] ?? []) {
          const g = groupBy === "owner" ? (owners.get(id) ?? "") : groupBy === "key" ? id : model;
          let acc = groups.get(g);
          if (acc === undefined) {
            acc = emptyUsage();
            groups.set(g, acc);
          }
          add(acc, u);
          add(total, u);
        }
      }
      const sorted = [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return {
        group_by: groupBy,
        ...periodJson(period),
        total,
        groups: sorted.map(([name, u]) => ({ [groupBy]: name, ...u })),
        truncated: ids.length >= MAX_ACTIVE_KEYS,
        /** The groups as (name, usage), for Connect. */
        named: sorted,
      };
    },
  };
}

const periodJson = (p: Period) => (p === undefined ? {} : { from: new Date(p.fromMs).toISOString(), to: new Date(p.toMs).toISOString() });

export type UsageQuery = ReturnType<typeof createUsageQuery>;
