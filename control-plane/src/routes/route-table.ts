import { create } from "@bufbuild/protobuf";
import type { WatchPoint } from "@tei-fleet/core/watch";
import { type Route, type RouteTable, RouteTableSchema, type UnreadyInstance, type WatchEvent } from "@tei-fleet/proto/fleet/v1";
import type { ChangesBus } from "../store/changes-bus.ts";
import { createRecordProblemReporter } from "../store/record-problems.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import { createWatchCache } from "../watch/watch-cache.ts";
import { streamWatch } from "../watch/watch-stream.ts";
import { createBackendFailureReports, type FailureReportOptions, type ReportBackendFailure } from "./backend-failure-reports.ts";
import { routeDecoders, routeWatchedSet } from "./route-watch-set.ts";
import { createUnreadyFollower, type UnreadyFollowerOptions } from "./unready-follower.ts";
import { createUnreadySync } from "./unready-sync.ts";

/** Options of the route table service. */
export interface RouteTableOptions extends FailureReportOptions, UnreadyFollowerOptions {
  /** A watcher hears from the control plane after this long without a change (keepalive). Default 15 000 ms. */
  keepaliveMs?: number;
  /** Longest time between two reads of the change log while anyone watches. Default 1000 ms. */
  pollMs?: number;
}

/**
 * The route table routers consume: `routes` (assignment id → Route), only replicas an agent
 * reports running (heartbeats add and remove them atomically with the replica status,
 * merge-replica; the scheduler removes them first when it retires a replica, and at once when a
 * node is lost), and `routes-unready` (instance name → why it has no route; unready-sync.ts).
 * Every write of either records itself in the change log (watch/lua/change-log.lua) with the
 * next `routes-version`, so routers can be sent only what changed (`watchChanges`); `get` and
 * `watch` serve the whole table, for GetRoutes and for routers older than WatchRouteChanges.
 */
export interface RouteTableService {
  /** The whole table, read consistently from Redis, its unready entries reconciled first. */
  get(): Promise<RouteTable>;
  /** The same, with the epoch its version counts in ("" before any watch named one). */
  getWithEpoch(): Promise<EpochTable>;
  /** The full table at once when `knownVersion` differs, then on every change, with keepalives. */
  watch(knownVersion: bigint, signal: AbortSignal): AsyncGenerator<RouteTable>;
  /** The table as a watch (watch.proto) from `position`: a snapshot or the changes since, then changes. */
  watchChanges(position: WatchPoint | undefined, signal: AbortSignal): AsyncGenerator<WatchEvent>;
  /**
   * A router ejected a backend. Once `ejectionQuorum` distinct routers have within the window,
   * it leaves the table until its agent reports it running again.
   */
  reportBackendFailure: ReportBackendFailure;
  /** Stops following the table (watch streams still open end with the server). */
  close(): Promise<void>;
}

/** A full table with the history its version belongs to (watch.proto, WatchPosition). */
export interface EpochTable {
  table: RouteTable;
  epoch: string;
}

/** Full reads of the table that reconcile unready entries before the one that is returned as is. */
const READ_ROUNDS = 3;

/** Creates the service. */
export function createRouteTable(ctx: SchedulerContext, bus: ChangesBus, options: RouteTableOptions = {}): RouteTableService {
  const { redis, keys } = ctx;
  const keepaliveMs = options.keepaliveMs ?? 15_000;
  const report = createRecordProblemReporter(redis, keys, ctx.logger);
  const decoders = routeDecoders(report);
  const sync = createUnreadySync(ctx, report);
  const cache = createWatchCache({
    redis,
    set: routeWatchedSet(keys, decoders),
    logger: ctx.logger,
    pollMs: options.pollMs,
    nudges: (listener) =>
      bus.subscribe((message) => {
        if (message === "routes") listener();
      }),
    hooks: createUnreadyFollower(ctx, bus, sync, options),
  });

  /**
   * One MULTI (version, routes, unready entries, instance names) and, when the instances without
   * a route and the stored entries disagree, a reconcile and another read: the table returned
   * lists every existing instance as routed or unready, as watchers see it.
   */
  async function read(): Promise<EpochTable> {
    for (let round = 1; ; round++) {
      const result =
        (await redis
          .multi()
          .get(keys.routesVersion())
          .hgetall(keys.routes())
          .hgetall(keys.routesUnready())
          .zrange(keys.instances(), 0, -1)
          .get(keys.routesEpoch())
          .exec()) ?? [];
      for (const [err] of result) if (err) throw err;
      const version = BigInt((result[0]?.[1] as string | null) ?? 0);
      const routes = decodeAll((result[1]?.[1] ?? {}) as Record<string, string>, decoders.route);
      const unready = decodeAll((result[2]?.[1] ?? {}) as Record<string, string>, decoders.unready);
      if (round < READ_ROUNDS) {
        const routed = new Set(routes.map((r) => r.instanceName));
        const names = ((result[3]?.[1] ?? []) as string[]).filter((n) => !routed.has(n));
        const changed = await sync.reconcile([...names, ...unready.map((u) => u.instanceName)], (n) => routed.has(n));
        if (changed > 0) continue;
      }
      routes.sort((a, b) => a.assignmentId.localeCompare(b.assignmentId));
      unready.sort((a, b) => a.instanceName.localeCompare(b.instanceName));
      return { table: create(RouteTableSchema, { version, routes, unready }), epoch: String(result[4]?.[1] ?? "") };
    }
  }

  // Every watcher wakes on the same change: one read in flight serves them all.
  let reading: Promise<EpochTable> | undefined;
  function getWithEpoch(): Promise<EpochTable> {
    reading ??= read().finally(() => {
      reading = undefined;
    });
    return reading;
  }
  const get = async () => (await getWithEpoch()).table;

  async function* watch(knownVersion: bigint, signal: AbortSignal): AsyncGenerator<RouteTable> {
    if (signal.aborted) return;
    // The cache only tells when the table moved (and keeps the unready entries current); each
    // change still costs a full read and the whole table to every such router.
    cache.hold(signal);
    await cache.ready();
    let sent = knownVersion;
    let lastSent = 0;
    for (let first = true; !signal.aborted; first = false) {
      const at = { epoch: cache.mirror.epoch, version: cache.mirror.version };
      if (!first || at.version !== sent || ctx.now() - lastSent >= keepaliveMs) {
        let table = await get();
        // A shared read that began before this change is stale: read once more for this one.
        if (table.version < at.version) table = (await read()).table;
        if (table.version !== sent || ctx.now() - lastSent >= keepaliveMs) {
          sent = table.version;
          lastSent = ctx.now();
          yield table;
        }
      }
      await cache.changed(at, Math.max(1, keepaliveMs - (ctx.now() - lastSent)), signal);
    }
  }

  return {
    get,
    getWithEpoch,
    watch,
    watchChanges: (position, signal) => streamWatch(cache, position, signal, keepaliveMs),
    reportBackendFailure: createBackendFailureReports(ctx, options),
    close: () => cache.close(),
  };
}

/** The decodable values of a hash (an unreadable one is left out, reported by its decoder). */
function decodeAll<T extends Route | UnreadyInstance>(hash: Record<string, string>, decode: (key: string, json: string) => T | undefined): T[] {
  const out: T[] = [];
  for (const [key, json] of Object.entries(hash)) {
    const value = decode(key, json);
    if (value !== undefined) out.push(value);
  }
  return out;
}
