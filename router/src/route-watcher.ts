/**
 * Keeps the route table in step with the control plane: RouteService.WatchRoutes streams a full
 * table on connect and again on every change; on any break the watcher reconnects with backoff
 * and asks for a full table again (known_version 0), so a gap can never leave it wrong. A
 * periodic GetRoutes repairs a watch that silently stalled. While the control plane is away the
 * router keeps serving from the last table it had.
 */
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { RouteService, type RouteTable as RouteTableMsg } from "@tei-fleet/proto/fleet/v1";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";

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
  /** Receives every table (full replacement). */
  onTable: (table: RouteTableMsg, source: "watch" | "resync") => void;
  /** The version currently applied (for the periodic resync). */
  currentVersion: () => bigint;
  log: Logger;
  /** First reconnect delay, doubled up to maxBackoffMs. Default 200 ms. */
  minBackoffMs?: number;
  /** Default 5000 ms. */
  maxBackoffMs?: number;
  /** Period of the GetRoutes safety net; 0 disables it. Default 30 000 ms. */
  resyncIntervalMs?: number;
  /**
   * A watch that delivers nothing for this long is dropped and reopened (the control plane
   * re-sends its table every 15 s, so silence means a half-open connection). Default 45 000 ms.
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

/** Starts watching the control plane's route table. */
export function startRouteWatcher(opts: RouteWatcherOptions): RouteWatcher {
  const { log } = opts;
  const token = opts.joinToken;
  const auth: Interceptor = (next) => (req) => {
    if (token !== undefined && token !== "") req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
  const transport = createConnectTransport({ baseUrl: opts.baseUrl, httpVersion: "1.1", interceptors: [auth] });
  const client: Client<typeof RouteService> = createClient(RouteService, transport);
  const stopper = new AbortController();
  const minBackoff = opts.minBackoffMs ?? 200;
  const maxBackoff = opts.maxBackoffMs ?? 5000;
  let resolveFirst!: () => void;
  let rejectFirst!: (e: Error) => void;
  const firstTable = new Promise<void>((res, rej) => {
    resolveFirst = res;
    rejectFirst = rej;
  });
  firstTable.catch(() => {}); // nobody has to wait for it

  const apply = (table: RouteTableMsg | undefined, source: "watch" | "resync"): void => {
    if (table === undefined) return;
    opts.onTable(table, source);
    resolveFirst();
  };

  const idleMs = opts.idleTimeoutMs ?? 45_000;
  const watchLoop = async (): Promise<void> => {
    let backoff = minBackoff;
    while (!stopper.signal.aborted) {
      const attempt = new AbortController();
      const onStop = (): void => attempt.abort();
      stopper.signal.addEventListener("abort", onStop, { once: true });
      let idle: NodeJS.Timeout | undefined;
      const arm = (): void => {
        clearTimeout(idle);
        idle = setTimeout(() => attempt.abort(new Error(`no route table for ${idleMs} ms`)), idleMs);
        idle.unref();
      };
      try {
        arm();
        // known_version 0: every (re)connect starts with a full table.
        for await (const res of client.watchRoutes({ knownVersion: 0n }, { signal: attempt.signal })) {
          arm();
          apply(res.table, "watch");
          backoff = minBackoff;
        }
        log.warn("route watch ended; reconnecting");
      } catch (err) {
        if (stopper.signal.aborted) break;
        log.warn({ err: (err as Error).message, retryInMs: backoff }, "route watch failed; serving from the last table");
      } finally {
        clearTimeout(idle);
        stopper.signal.removeEventListener("abort", onStop);
      }
      await sleep(backoff, stopper.signal);
      backoff = Math.min(backoff * 2, maxBackoff);
    }
  };

  const resyncMs = opts.resyncIntervalMs ?? 30_000;
  const resync = async (): Promise<void> => {
    try {
      const res = await client.getRoutes({}, { signal: stopper.signal, timeoutMs: 10_000 });
      // Only newer tables: the watch may already have delivered a later one.
      if (res.table !== undefined && res.table.version > opts.currentVersion()) apply(res.table, "resync");
    } catch (err) {
      if (!stopper.signal.aborted) log.debug({ err: (err as Error).message }, "route resync failed");
    }
  };
  const timer = resyncMs > 0 ? setInterval(() => void resync(), resyncMs) : undefined;
  timer?.unref();
  void watchLoop();

  return {
    firstTable,
    async reportFailure(assignmentId, reason) {
      try {
        await client.reportBackendFailure({ assignmentId, reason, routerId: ROUTER_ID }, { timeoutMs: 5000 });
      } catch (err) {
        log.warn({ assignmentId, err: (err as Error).message }, "could not report a backend failure");
      }
    },
    stop() {
      stopper.abort();
      if (timer !== undefined) clearInterval(timer);
      rejectFirst(new Error("route watcher stopped"));
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
