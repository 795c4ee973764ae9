/**
 * The routers' demand reports in Redis, so that any control-plane copy answers a router with the
 * same shares (keys from store/keys.ts):
 *
 * - `share-routers` (ZSET): router id → ms of its latest report. The live routers are its members
 *   within the TTL; every report trims the older ones, and the key expires when every router has
 *   gone quiet.
 * - `share-report:{router}` (STRING, PX the TTL): the router's smoothed demand per limit id and the
 *   router count it assumes (share-grants.ts' ShareRecord, as JSON).
 *
 * Only a router's own renewals write its record, one at a time (the router waits for each
 * answer), so reading it back and writing the next needs no script. The live set is derived from
 * the reports themselves: the control plane does not otherwise know which routers run (each
 * watches one copy of it), and a router that stopped reporting is one that stopped enforcing
 * grants, or is gone. Report times are each control-plane copy's clock: copies are assumed to
 * agree to well within the TTL (NTP), as the ejection reports' quorum window assumes.
 */
import type { Redis } from "ioredis";
import type { KeySchema } from "../store/keys.ts";
import type { DemandReport } from "./demand-report.ts";
import { type Grant, grantFor, nextRecord, type ShareRecord } from "./share-grants.ts";

/** Options of {@link createShareStore}. */
export interface ShareStoreOptions {
  readonly redis: Redis;
  readonly keys: KeySchema;
  /** A router silent this long no longer counts, and its record expires. Default 3000 ms. */
  readonly ttlMs?: number;
  /** See assignShares. Default 0.05. */
  readonly floorFraction?: number;
  /** Epoch ms. Default Date.now. */
  readonly now?: () => number;
}

/** Keeps reports and computes grants from them. */
export interface ShareStore {
  /** Records `report` and returns the reporting router's shares. */
  renew(report: DemandReport): Promise<Grant>;
}

function parseRecord(json: string | null): ShareRecord | undefined {
  if (json === null) return undefined;
  try {
    const r = JSON.parse(json) as ShareRecord;
    return typeof r === "object" && r !== null && typeof r.d === "object" && typeof r.n === "number" ? r : undefined;
  } catch {
    return undefined; // unreadable: the router starts afresh
  }
}

/** The shares' store over one Redis. */
export function createShareStore(o: ShareStoreOptions): ShareStore {
  const { redis, keys } = o;
  const ttlMs = o.ttlMs ?? 3000;
  const now = o.now ?? Date.now;
  const routersKey = keys.shareRouters();
  return {
    async renew(report) {
      const t = now();
      // The live set, this router in it (it counts from its first report on).
      const tx = await redis
        .multi()
        .zremrangebyscore(routersKey, "-inf", `(${t - ttlMs}`)
        .zadd(routersKey, t, report.router)
        .pexpire(routersKey, ttlMs)
        .zrange(routersKey, 0, -1)
        .exec();
      const failed = tx?.find(([err]) => err !== null);
      if (tx === null || failed !== undefined) throw failed?.[0] ?? new Error("share report transaction aborted");
      const routers = tx[3]?.[1] as string[];
      const records = await redis.mget(...routers.map((r) => keys.shareReport(r)));
      const mine = routers.indexOf(report.router);
      const record = nextRecord(parseRecord(records[mine] ?? null), report);
      await redis.set(keys.shareReport(report.router), JSON.stringify(record), "PX", ttlMs);
      // A live member whose record is gone (expired in a race, unreadable) reported no demand.
      const live = records.map((json, i) => (i === mine ? record : (parseRecord(json) ?? { d: {}, n: 1 })));
      return grantFor(live, mine, o.floorFraction);
    },
  };
}
