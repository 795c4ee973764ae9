import { toJsonString } from "@bufbuild/protobuf";
import { UnreadyInstanceSchema } from "@tei-fleet/proto/fleet/v1";
import { readInstanceRecord, readReplicaRecords } from "../store/instance-record.ts";
import { runScript } from "../store/lua-scripts.ts";
import type { RecordProblemReporter } from "../store/record-problems.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import { unreadyEntry } from "./unready-instances.ts";

/**
 * Keeps the route table's unready entries (`routes-unready`) in line with the records they are
 * computed from. They used to be computed on every read of the table, which made each read cost
 * the whole table and gave a reason change no version; stored, each change is an entry of the
 * change log like a route's, and reaches routers as a delta.
 *
 * What decides an entry (the instance record, its replicas' statuses and reasons) is written in
 * many places, by the API, the scheduler and heartbeats, some without any nudge (a pending
 * reason), so the entries are kept by reconciling, level-triggered: `reconcile(names)` reads the
 * records of those instances and writes only what differs, in one script (sync-unready.lua),
 * which compares each entry with what was read and never writes one for an instance that has a
 * route.
 * Who calls it, and when, is unready-follower.ts (while anyone watches) and the full read of the
 * table (GetRoutes).
 */
export interface UnreadySync {
  /**
   * Brings the entries of `names` in line with their records; the number of entries it changed.
   * `routed` says which of them the caller knows to have a route (their entries go); the
   * script checks routes again wherever it writes one.
   */
  reconcile(names: Iterable<string>, routed?: (name: string) => boolean): Promise<number>;
}

/** Instances reconciled per script call (their records are read in one pipeline first). */
const CHUNK = 500;

/** Creates the reconciler; unreadable records are reported through `report`. */
export function createUnreadySync(ctx: SchedulerContext, report: RecordProblemReporter): UnreadySync {
  const { redis, keys } = ctx;

  async function reconcileChunk(names: readonly string[], routed: (name: string) => boolean): Promise<number> {
    const pipe = redis.pipeline();
    for (const name of names) pipe.get(keys.instance(name)).hgetall(keys.replicas(name)).hget(keys.routesUnready(), name);
    const results = (await pipe.exec()) ?? [];
    const args: string[] = [];
    names.forEach((name, i) => {
      const [[recErr, record], [repErr, hash], [entryErr, stored]] = [results[3 * i] ?? [], results[3 * i + 1] ?? [], results[3 * i + 2] ?? []];
      const err = recErr ?? repErr ?? entryErr;
      if (err) throw err;
      const replicas = (hash ?? {}) as Record<string, string>;
      // Deleted or routed: no entry. Otherwise the entry its records make, unless one of its
      // replicas has a route, which the script checks where it writes.
      const wanted =
        typeof record === "string" && !routed(name)
          ? toJsonString(UnreadyInstanceSchema, unreadyEntry(name, readInstanceRecord(name, record, report), readReplicaRecords(name, replicas, report)))
          : "";
      const had = typeof stored === "string" ? stored : "";
      if (wanted === had) return;
      const ids = Object.keys(replicas);
      args.push(name, had, wanted, String(ids.length), ...ids);
    });
    if (args.length === 0) return 0;
    const changed = await runScript(
      redis,
      "sync-unready",
      [keys.routesUnready(), keys.routes(), keys.routesVersion(), keys.routesLog()],
      [keys.changesChannel(), ...args],
    );
    return Number(changed);
  }

  return {
    async reconcile(names, routed = () => false) {
      const list = [...new Set(names)];
      let changed = 0;
      for (let i = 0; i < list.length; i += CHUNK) changed += await reconcileChunk(list.slice(i, i + CHUNK), routed);
      return changed;
    },
  };
}
