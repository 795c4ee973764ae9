/**
 * Keeps the route table in step with the control plane over RouteService.WatchRouteChanges, the
 * watch protocol (proto/tei_fleet/v1/watch.proto, followed by @tei-fleet/core/watch): a snapshot
 * at first, then only the routes and unready entries that changed. On any break the watcher
 * reconnects with backoff from the version it has, so a reconnect costs what changed meanwhile;
 * a control plane that cannot say what changed (a new history after Redis was flushed, a
 * version trimmed from its log) sends a snapshot instead, and an event that does not follow on
 * the router's version makes it ask for one: never a silent gap. While the control plane is
 * away the router keeps serving from the table it has; GetRoutes fills in while a watch cannot
 * be kept open (a proxy that cuts streams).
 */

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { create } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { followWatch, snapshotEvent, type WatchChange, type WatchMirror, watchEntry } from "@tei-fleet/core/watch";
import { RouteService, type RouteTable as RouteTableMsg, RouteTableSchema, type WatchEvent } from "@tei-fleet/proto/fleet/v1";
import type { Logger } from "pino";
import { controlPlaneTransport } from "../control-plane-client/control-plane-transport.ts";
import type { RouteInput } from "./replica.ts";
import type { TableChanges, UnreadyInput } from "./route-table.ts";

/**
 * This router process in failure reports: the control plane counts reports per router, so a
 * backend leaves every table only when several routers agree it is failing.
 */
const ROUTER_ID = `${hostname()}/${process.pid}/${randomBytes(3).toString("hex")}`;

/** Options of the watcher. */
export interface RouteWatcherOptions {
  /** Base URL of the control plane, e.g. http://10.0.0.1:9000. */
  baseUrl: string;
  /** Join token sent as `authorization: Bearer ...`; never logged. */
  joinToken: string | undefined;
  /**
   * Receives the whole table after every change: "snapshot" and "delta" from the watch,
   * "resync" from GetRoutes.
   */
  onTable: (table: RouteTableMsg, source: "snapshot" | "delta" | "resync") => void;
  /**
   * Receives each watch delta's changes instead of the whole table (the table is then applied in
   * place, in proportion to the change); without it, deltas reach `onTable` as whole tables.
   */
  onChanges?: (changes: TableChanges, version: bigint) => void;
  /**
   * Sees every applied snapshot and delta first, with the whole mirror: the other collections of
   * the watch (the model catalog, API keys) are fed from here (router/src/catalog/catalog-feed.ts).
   */
  onWatch?: (mirror: WatchMirror, applied: { kind: "snapshot" } | { kind: "delta"; changes: readonly WatchChange[] }) => void;
  /** The version currently applied (GetRoutes tables are taken only when newer). */
  currentVersion: () => bigint;
  log: Logger;
  /** First reconnect delay, doubled up to maxBackoffMs. Default 200 ms. */
  minBackoffMs?: number;
  /** Default 5000 ms. */
  maxBackoffMs?: number;
  /**
   * Period of the GetRoutes safety net, which runs only while no watch stream is live (an open
   * stream keeps the table current, and a full table per period would cost what the watch
   * saves); 0 disables it. Default 30 000 ms.
   */
  resyncIntervalMs?: number;
  /**
   * A watch that delivers nothing for this long is dropped and reopened (the control plane
   * sends a keepalive every 15 s, so silence means a half-open connection). Default 45 000 ms.
   */
  idleTimeoutMs?: number;
}

/** A running watch. */
export interface RouteWatcher {
  /** Resolves once the first table arrived (or rejects when stopped first). */
  readonly firstTable: Promise<void>;
  /** Reports an ejected backend to the control plane; never throws. */
  reportFailure(assignmentId: string, reason: string): Promise<void>;
  /** Stops watching. */
  stop(): void;
}

/** The mirror's content as the table the router's RouteTable takes. */
function tableOf(mirror: WatchMirror): RouteTableMsg {
  return create(RouteTableSchema, {
    version: mirror.version,
    routes: [...mirror.values("route")],
    unready: [...mirror.values("unreadyInstance")],
  });
}

/** A delta's changes as the route table applies them: an updated entry is removed, then added. */
function changesOf(changes: readonly WatchChange[]): TableChanges {
  const removed: RouteInput[] = [];
  const upserted: RouteInput[] = [];
  const unreadyRemoved: string[] = [];
  const unreadyUpserted: UnreadyInput[] = [];
  for (const c of changes) {
    const before = c.before?.value;
    const after = c.after?.value;
    if (before?.case === "route") removed.push(before.value);
    if (after?.case === "route") upserted.push(after.value);
    if (before?.case === "unreadyInstance") unreadyRemoved.push(before.value.instanceName);
    if (after?.case === "unreadyInstance") unreadyUpserted.push(after.value);
  }
  return { removed, upserted, unreadyRemoved, unreadyUpserted };
}

/** True when a delta changes a route or an unready entry (not only other collections). */
function touchesRoutes(changes: readonly WatchChange[]): boolean {
  for (const c of changes) if (c.collection === "route" || c.collection === "unreadyInstance") return true;
  return false;
}

/** Starts watching the control plane's route table. */
export function startRouteWatcher(opts: RouteWatcherOptions): RouteWatcher {
  const { log } = opts;
  const client: Client<typeof RouteService> = createClient(RouteService, controlPlaneTransport(opts.baseUrl, opts.joinToken));
  const stopper = new AbortController();

  async function* open(position: { epoch: string; version: bigint } | undefined, signal: AbortSignal): AsyncIterable<WatchEvent> {
    for await (const res of client.watchRouteChanges({ position }, { signal })) if (res.event) yield res.event;
  }
  const follower = followWatch({
    name: "route table",
    log,
    open,
    minBackoffMs: opts.minBackoffMs,
    maxBackoffMs: opts.maxBackoffMs,
    idleTimeoutMs: opts.idleTimeoutMs,
    onChange: (mirror, applied) => {
      opts.onWatch?.(mirror, applied);
      // A delta of catalog or key entries alone leaves the route table (and what is derived
      // from it) as it is: such changes cost the router work in proportion to them.
      if (applied.kind === "delta" && !touchesRoutes(applied.changes)) return;
      if (applied.kind === "delta" && opts.onChanges !== undefined) opts.onChanges(changesOf(applied.changes), mirror.version);
      else opts.onTable(tableOf(mirror), applied.kind);
    },
  });

  const resyncMs = opts.resyncIntervalMs ?? 30_000;
  const resync = async (): Promise<void> => {
    if (follower.streaming) return;
    try {
      const res = await client.getRoutes({}, { signal: stopper.signal, timeoutMs: 10_000 });
      // Only newer tables, and none once a watch is back: it may have delivered a later one.
      // (The mirror's version counts catalog and key deltas that left the table's as it was.)
      const held = follower.mirror.loaded ? follower.mirror.version : opts.currentVersion();
      if (res.table === undefined || res.table.version <= held || follower.streaming) return;
      // GetRoutes' table has no catalog and no API keys: the mirror keeps the ones it has.
      const others = [...follower.mirror.entries()].filter((e) => e.value.case !== "route" && e.value.case !== "unreadyInstance");
      // As a snapshot of its epoch, so that the watch resumes from it when it can reconnect;
      // unless the mirror holds those other collections, which are older than the table's
      // version: then under an epoch the control plane does not know, so that the watch, once
      // back, starts over with a snapshot instead of resuming on top of them (a key revoked
      // meanwhile would be missed).
      const entries = [
        ...res.table.routes.map((value) => watchEntry({ case: "route", value })),
        ...res.table.unready.map((value) => watchEntry({ case: "unreadyInstance", value })),
        ...others,
      ];
      follower.mirror.apply(snapshotEvent(others.length > 0 ? `${res.epoch}~resync` : res.epoch, res.table.version, entries));
      opts.onTable(res.table, "resync");
    } catch (err) {
      if (!stopper.signal.aborted) log.debug({ err: (err as Error).message }, "route resync failed");
    }
  };
  const timer = resyncMs > 0 ? setInterval(() => void resync(), resyncMs) : undefined;
  timer?.unref();

  return {
    firstTable: follower.loaded,
    async reportFailure(assignmentId, reason) {
      try {
        await client.reportBackendFailure({ assignmentId, reason, routerId: ROUTER_ID }, { timeoutMs: 5000 });
      } catch (err) {
        log.warn({ assignmentId, err: (err as Error).message }, "could not report a backend failure");
      }
    },
    stop() {
      stopper.abort();
      follower.stop();
      if (timer !== undefined) clearInterval(timer);
    },
  };
}
