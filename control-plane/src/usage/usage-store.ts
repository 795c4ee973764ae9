/**
 * Per-key usage in Redis (keys from store/keys.ts), summed from every router's reports:
 *
 * - `usage:{key}` (HASH): `{model}|{counter}` → all-time total, counters `requests`, `inputs`,
 *   `tokens`, `refused:{reason}`;
 * - `usage-hour:{key}:{hour}` (HASH, 35-day TTL): the same for one epoch hour, for chargeback by
 *   period;
 * - `usage-keys` (ZSET): key id → ms of its latest report (what lists and metrics enumerate);
 * - `usage-seq:{router}` (STRING, 1-day TTL): the router's last counted sequence.
 *
 * A report is counted in one script run: the sequence check and every HINCRBY together, so a
 * report is counted whole or not at all, and one a router resends (same or lower sequence: it
 * did not see the acknowledgement) is acknowledged without being counted again.
 */
import type { Redis } from "ioredis";
import type { KeySchema } from "../store/keys.ts";
import type { UsageReport } from "./usage-report.ts";

/** Hourly buckets are kept this long. */
export const HOUR_BUCKET_TTL_MS = 35 * 24 * 3_600_000;
/** A router's last sequence is remembered this long (router ids are per process). */
export const SEQUENCE_TTL_MS = 24 * 3_600_000;
const HOUR_MS = 3_600_000;

// KEYS: seq, usage-keys, then per entry its total and its hour bucket.
// ARGV: sequence, seq ttl ms, hour ttl ms, now ms, then per entry: key id, n fields, (field, n)*.
const REPORT_LUA = `
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = tonumber(ARGV[1])
if seq <= last then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local a = 5
local k = 3
while a <= #ARGV do
  local id = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  for i = 1, n do
    redis.call('HINCRBY', KEYS[k], ARGV[a], ARGV[a + 1])
    redis.call('HINCRBY', KEYS[k + 1], ARGV[a], ARGV[a + 1])
    a = a + 2
  end
  redis.call('PEXPIRE', KEYS[k + 1], ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[4], id)
  k = k + 2
end
return 1
`;

/** Counters of one model. */
export interface ModelUsage {
  requests: number;
  inputs: number;
  tokens: number;
  refused: Record<string, number>;
}

/** A key's usage, by model. */
export type KeyUsageTotals = Map<string, ModelUsage>;

/** Options of {@link createUsageStore}. */
export interface UsageStoreOptions {
  readonly redis: Redis;
  readonly keys: KeySchema;
  /** Epoch ms. Default Date.now. */
  readonly now?: () => number;
}

export interface UsageStore {
  /** Counts `report` unless its (router, sequence) was counted already; true when counted now. */
  record(report: UsageReport): Promise<boolean>;
  /** A key's usage: all time, or the hours overlapping [fromMs, toMs) when given. */
  read(keyId: string, range?: { fromMs: number; toMs: number }): Promise<KeyUsageTotals>;
  /** Several keys' usage in one pipeline, in the order of `ids`. */
  readMany(ids: readonly string[], range?: { fromMs: number; toMs: number }): Promise<KeyUsageTotals[]>;
  /** Key ids that reported since `sinceMs`, newest first, at most `limit`. */
  activeKeys(sinceMs: number, limit: number): Promise<string[]>;
}

export const emptyUsage = (): ModelUsage => ({ requests: 0, inputs: 0, tokens: 0, refused: {} });

/** Adds hash fields `model|counter` → n into `into`. */
export function addFields(into: KeyUsageTotals, fields: Record<string, string>): void {
  for (const [f, v] of Object.entries(fields)) {
    const bar = f.lastIndexOf("|");
    if (bar < 0) continue;
    const model = f.slice(0, bar);
    const counter = f.slice(bar + 1);
    const n = Number(v);
    if (!Number.isFinite(n)) continue;
    let m = into.get(model);
    if (m === undefined) {
      m = emptyUsage();
      into.set(model, m);
    }
    if (counter === "requests" || counter === "inputs" || counter === "tokens") m[counter] += n;
    else if (counter.startsWith("refused:")) {
      const reason = counter.slice("refused:".length);
      m.refused[reason] = (m.refused[reason] ?? 0) + n;
    }
  }
}

const RUN = "tfUsageReport";

/** The usage store over one Redis. */
export function createUsageStore(o: UsageStoreOptions): UsageStore {
  const { redis, keys } = o;
  const now = o.now ?? Date.now;
  if (!(RUN in redis)) redis.defineCommand(RUN, { lua: REPORT_LUA });
  // Called with one array (ioredis flattens it): a report's arguments may outnumber what a spread call takes.
  const run = (redis as unknown as Record<string, (args: Array<string | number>) => Promise<number>>)[RUN]!;
  const readMany: UsageStore["readMany"] = async (ids, range) => {
    const p = redis.pipeline();
    const first = range === undefined ? 0 : Math.floor(range.fromMs / HOUR_MS);
    const last = range === undefined ? 0 : Math.ceil(range.toMs / HOUR_MS) - 1;
    const per = range === undefined ? 1 : last - first + 1;
    for (const id of ids) {
      if (range === undefined) p.hgetall(keys.usage(id));
      else for (let h = first; h <= last; h++) p.hgetall(keys.usageHour(id, h));
    }
    const replies = (await p.exec()) ?? [];
    return ids.map((_, i) => {
      const totals: KeyUsageTotals = new Map();
      for (const [err, fields] of replies.slice(i * per, (i + 1) * per)) {
        if (err) throw err;
        addFields(totals, fields as Record<string, string>);
      }
      return totals;
    });
  };
  return {
    async record(report) {
      const t = now();
      const hour = Math.floor(t / HOUR_MS);
      const ks = [keys.usageSeq(report.router), keys.usageKeys()];
      const args = [String(report.sequence), String(SEQUENCE_TTL_MS), String(HOUR_BUCKET_TTL_MS), String(t)];
      for (const e of report.entries) {
        if (e.counts.size === 0) continue;
        ks.push(keys.usage(e.keyId), keys.usageHour(e.keyId, hour));
        args.push(e.keyId, String(e.counts.size));
        for (const [c, n] of e.counts) args.push(`${e.model}|${c}`, String(n));
      }
      return (await run.call(redis, [ks.length, ...ks, ...args])) === 1;
    },
    async read(keyId, range) {
      return (await readMany([keyId], range))[0] ?? new Map();
    },
    readMany,
    async activeKeys(sinceMs, limit) {
      return redis.zrevrangebyscore(keys.usageKeys(), "+inf", String(sinceMs), "LIMIT", 0, limit);
    },
  };
}
