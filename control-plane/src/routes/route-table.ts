import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { ReplicaSchema, RouteSchema, RouteTableSchema, type Route, type RouteTable } from "@tei-fleet/proto/fleet/v1";
import { EVENT_STREAM_MAXLEN } from "../events/event-log.ts";
import type { ChangesBus } from "../scheduler/changes-bus.ts";
import type { SchedulerContext } from "../scheduler/context.ts";
import { runScript } from "../scheduler/lua-scripts.ts";
import { decodeRecord } from "../store/record-codec.ts";
import { createRecordProblemReporter } from "../store/record-problems.ts";
import { stampRouteTable } from "./route-table-version.ts";
import { readUnready } from "./unready-instances.ts";

/** Options of the route table service. */
export interface RouteTableOptions {
  /** A watcher gets the table again after this long without a change (keepalive). Default 15 000 ms. */
  keepaliveMs?: number;
  /**
   * While anyone watches, the longest time between two re-reads of the table looking for unready
   * entries that changed without a nudge (a pending reason, say). Default 1000 ms.
   */
  contentCheckMs?: number;
  /** Distinct routers whose reports take a replica out of the table. Default 2. */
  ejectionQuorum?: number;
  /** How long a report counts. Default 60 000 ms. */
  ejectionReportWindowMs?: number;
}

/** What became of a router's failure report. */
export interface FailureReportOutcome {
  /** The replica is out of the table (the quorum was reached, or it was not routed anyway). */
  removed: boolean;
  /** Distinct routers that reported it within the window, this one included. */
  reports: number;
}

/** Least time between two content checks, however many nudges arrive (bounds the read load). */
const MIN_CONTENT_CHECK_GAP_MS = 250;

/**
 * The route table routers consume: `routes` (assignment id → Route) and `routes-version`. Only
 * replicas an agent reports running are in it; heartbeats add and remove them atomically with
 * the replica status (merge-replica), the scheduler removes them first when it retires a replica
 * and at once when a node is lost. Instances without a route are listed as `unready` (computed
 * on read, see unready-instances.ts); creating and deleting an instance bump the version too, and
 * every table read is stamped (route-table-version.ts), so any other change of its content, such
 * as an unready reason, takes a new version as well.
 */
export interface RouteTableService {
  get(): Promise<RouteTable>;
  /** The full table at once when `knownVersion` differs, then on every change, with keepalives. */
  watch(knownVersion: bigint, signal: AbortSignal): AsyncGenerator<RouteTable>;
  /**
   * A router ejected a backend. Once `ejectionQuorum` distinct routers have within the window,
   * it leaves the table until its agent reports it running again.
   */
  reportBackendFailure(assignmentId: string, reason: string, routerId: string): Promise<FailureReportOutcome>;
}

/** Creates the service. */
export function createRouteTable(ctx: SchedulerContext, bus: ChangesBus, options: RouteTableOptions = {}): RouteTableService {
  const { redis, keys } = ctx;
  const keepaliveMs = options.keepaliveMs ?? 15_000;
  const contentCheckMs = options.contentCheckMs ?? 1_000;
  const quorum = options.ejectionQuorum ?? 2;
  const reportWindowMs = options.ejectionReportWindowMs ?? 60_000;
  const report = createRecordProblemReporter(redis, keys, ctx.logger);

  /** The table's entries; one that cannot be decoded is left out (and reported), not fatal. */
  function decodeRoutes(hash: Record<string, string>): Route[] {
    const routes: Route[] = [];
    for (const [id, json] of Object.entries(hash)) {
      const decoded = decodeRecord(RouteSchema, json);
      if (decoded.kind === "unreadable") report("", json, { kind: "route-unreadable", id, error: decoded.error });
      else routes.push(decoded.message);
    }
    return routes.sort((a, b) => a.assignmentId.localeCompare(b.assignmentId));
  }

  async function read(): Promise<RouteTable> {
    // MULTI: the version, the entries and the instance names are one consistent snapshot.
    const result = (await redis.multi().get(keys.routesVersion()).hgetall(keys.routes())
      .zrange(keys.instances(), 0, -1).exec()) ?? [];
    const version = BigInt((result[0]?.[1] as string | null) ?? 0);
    const hash = (result[1]?.[1] ?? {}) as Record<string, string>;
    const names = (result[2]?.[1] ?? []) as string[];
    const routes = decodeRoutes(hash);
    const unready = await readUnready(redis, keys, names, routes, report);
    return create(RouteTableSchema, { version: await stampRouteTable(redis, keys, version, routes, unready), routes, unready });
  }

  // Every watcher wakes on the same nudge: one read in flight serves them all.
  let reading: Promise<RouteTable> | undefined;
  function get(): Promise<RouteTable> {
    reading ??= read().finally(() => { reading = undefined; });
    return reading;
  }

  // An unready reason changes without moving routes-version; only reading the table finds it (and
  // stamps a new version, which nudges every watcher). So while this process has watchers, one
  // loop re-reads it after every "event" on the changes channel (a replica's status transition
  // comes with one) and at least every contentCheckMs (writes that nudge nobody, like a pending
  // reason). Route changes need no check: they move routes-version themselves.
  let watchers = 0;
  let checking = false;
  let wakeChecker: (() => void) | undefined;
  async function checkContent(): Promise<void> {
    let nudged = false;
    const unsubscribe = bus.subscribe((message) => {
      if (message !== "event") return;
      nudged = true;
      wakeChecker?.();
    });
    try {
      while (watchers > 0) {
        nudged = false;
        const started = Date.now();
        await get().catch((err: unknown) => ctx.logger.debug({ err: (err as Error).message }, "route table content check failed"));
        if (watchers === 0) break;
        // Next check: after contentCheckMs, or soon after a nudge, but never closer than the gap.
        const soon = () => Math.max(0, MIN_CONTENT_CHECK_GAP_MS - (Date.now() - started));
        await new Promise<void>((resolve) => {
          let timer: NodeJS.Timeout | undefined;
          const after = (ms: number) => {
            clearTimeout(timer);
            timer = setTimeout(resolve, ms);
            timer.unref();
          };
          after(nudged ? soon() : contentCheckMs);
          wakeChecker = () => after(soon());
        });
        wakeChecker = undefined;
      }
    } finally {
      // Synchronously with the loop's end, so a watcher arriving now starts a new loop.
      checking = false;
      unsubscribe();
    }
  }

  /** Counts a watcher until `signal` aborts or its stream ends; returns the release. */
  function joinWatchers(signal: AbortSignal): () => void {
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      signal.removeEventListener("abort", leave);
      watchers -= 1;
      if (watchers === 0) wakeChecker?.();
    };
    watchers += 1;
    // A stream suspended at a yield never reaches its finally; its aborted signal still counts.
    signal.addEventListener("abort", leave);
    if (!checking) {
      checking = true;
      void checkContent();
    }
    return leave;
  }

  async function* watch(knownVersion: bigint, signal: AbortSignal): AsyncGenerator<RouteTable> {
    if (signal.aborted) return;
    const leave = joinWatchers(signal);
    let wake: (() => void) | undefined;
    let nudged = false;
    const unsubscribe = bus.subscribe((message) => {
      if (message !== "routes") return;
      nudged = true;
      wake?.();
    });
    const onAbort = () => wake?.();
    signal.addEventListener("abort", onAbort);
    try {
      let version = knownVersion;
      let lastSent = 0;
      while (!signal.aborted) {
        nudged = false;
        // Cheap check first: the full table is read only when its version moved.
        const current = BigInt((await redis.get(keys.routesVersion())) ?? 0);
        if (current !== version || ctx.now() - lastSent >= keepaliveMs) {
          let table = await get();
          // A shared read that began before this change is stale: read once more for this one.
          if (table.version < current) table = await read();
          version = table.version;
          lastSent = ctx.now();
          yield table;
        }
        if (nudged) continue;
        // Pub/sub may drop a nudge; a short poll bounds the delay anyway.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(1000, keepaliveMs));
          wake = () => { clearTimeout(timer); resolve(); };
        });
        wake = undefined;
      }
    } finally {
      unsubscribe();
      signal.removeEventListener("abort", onAbort);
      leave();
    }
  }

  /** Records the report and counts the distinct routers that made one within the window. */
  async function countReports(assignmentId: string, routerId: string): Promise<number> {
    const key = keys.ejectionReports(assignmentId);
    const now = ctx.now();
    const result = await redis.multi().zadd(key, now, routerId).zremrangebyscore(key, "-inf", now - reportWindowMs)
      .zcard(key).pexpire(key, reportWindowMs).exec();
    return Number(result?.[2]?.[1] ?? 1);
  }

  async function reportBackendFailure(assignmentId: string, reason: string, routerId: string): Promise<FailureReportOutcome> {
    const json = await redis.hget(keys.routes(), assignmentId);
    if (!json) return { removed: true, reports: 0 };
    const reports = await countReports(assignmentId, routerId);
    if (reports < quorum) {
      ctx.logger.info({ assignmentId, routerId, reason, reports, quorum }, "router reported a failing backend; waiting for a quorum of routers");
      return { removed: false, reports };
    }
    const route = fromJsonString(RouteSchema, json, { ignoreUnknownFields: true });
    const record = await redis.hget(keys.replicas(route.instanceName), assignmentId);
    if (!record) return { removed: true, reports };
    const replica = fromJsonString(ReplicaSchema, record, { ignoreUnknownFields: true });
    if (replica.status !== "running") return { removed: true, reports };
    const marked = create(ReplicaSchema, {
      ...replica, status: "unhealthy", reason: `${reports} routers reported failures: ${reason}`.slice(0, 500),
    });
    await runScript(redis, "merge-replica",
      [keys.replicas(route.instanceName), keys.routes(), keys.routesVersion(), keys.events()],
      [assignmentId, record, toJsonString(ReplicaSchema, marked), "del", "", keys.changesChannel(),
        "instance.unhealthy", route.instanceName, route.node, `replica ${replica.index} (${assignmentId}) ${marked.reason}`,
        String(ctx.now()), String(EVENT_STREAM_MAXLEN)]);
    await redis.del(keys.ejectionReports(assignmentId));
    ctx.logger.warn({ assignmentId, instance: route.instanceName, reason, reports }, "routers reported a failing backend; removed from the route table");
    return { removed: true, reports };
  }

  return { get, watch, reportBackendFailure };
}
