/**
 * A stand-in control plane serving RouteService over HTTP/1.1 with Connect, like the real one:
 * WatchRouteChanges (the watch protocol: a snapshot, or the changes since the router's position
 * within the current epoch, then a delta per publish), WatchRoutes (a full table on connect and
 * on every publish), GetRoutes, and ReportBackendFailure, whose reports it keeps so tests can
 * see what a router reported.
 */
import { createServer, type Server } from "node:http";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { deltaEvent, diffEntries, keepaliveEvent, snapshotEvent, WatchMirror, watchEntry } from "@tei-fleet/core/watch";
import { RouteService, type RouteTable, RouteTableSchema, type UnreadyInstance, type WatchEntry, type WatchEvent } from "@tei-fleet/proto/fleet/v1";

/** The join token the fake control plane accepts. */
export const JOIN_TOKEN = "join-secret";

/** A route to publish; model and node default to "m" and "n1". */
export interface PublishedRoute {
  name: string;
  address: string;
  modelId?: string;
  node?: string;
}

/** The entries of a table, as a watch carries them. */
function entriesOf(table: RouteTable): WatchEntry[] {
  return [
    ...table.routes.map((value) => watchEntry({ case: "route", value })),
    ...table.unready.map((value) => watchEntry({ case: "unreadyInstance", value })),
  ];
}

/** The delta from one published table to another. */
function deltaBetween(from: RouteTable, to: RouteTable): WatchEvent {
  const mirror = new WatchMirror();
  mirror.apply(snapshotEvent("", from.version, entriesOf(from)));
  const { upserted, removed } = diffEntries(mirror, entriesOf(to));
  return deltaEvent(from.version, to.version, upserted, removed);
}

export class FakeControlPlane {
  table: RouteTable = create(RouteTableSchema, { version: 0n, routes: [] });
  watchers = new Set<(t: RouteTable) => void>();
  watchCalls = 0;
  /** The history the published versions count in; see restartHistory. */
  epoch = "epoch-1";
  /** Every table published in this epoch, by version, so that a router may resume from any. */
  history = new Map<bigint, RouteTable>();
  /** The kind of every event WatchRouteChanges sent, in order. */
  sent: Array<"snapshot" | "delta" | "keepalive"> = [];
  /** The positions routers opened WatchRouteChanges from ("" for none). */
  positions: string[] = [];
  /** The open WatchRouteChanges streams, taking events as they are. */
  changeStreams = new Set<(event: WatchEvent) => void>();
  badAuth = 0;
  reports: { assignmentId: string; reason: string; routerId: string }[] = [];
  server: Server | null = null;

  /** Listens on `port` once started; until then a router pointed at it finds nothing there. */
  readonly port: number;
  constructor(port: number) {
    this.port = port;
  }

  /** Replaces the table (assignment id `<name>-asg`, replica 0) and pushes it to every watch. */
  publish(version: number, routes: PublishedRoute[], unready: Array<Partial<UnreadyInstance> & { instanceName: string }> = []): void {
    this.table = create(RouteTableSchema, {
      version: BigInt(version),
      routes: routes.map((r) => ({
        assignmentId: `${r.name}-asg`,
        instanceName: r.name,
        replica: 0,
        modelId: r.modelId ?? "m",
        node: r.node ?? "n1",
        address: r.address,
      })),
      unready: unready.map((u) => ({ modelId: "m", reason: "starting", ...u })),
    });
    this.history.set(this.table.version, this.table);
    for (const w of this.watchers) w(this.table);
  }

  /**
   * Starts a new history, as a control plane whose Redis was flushed: versions start again and
   * positions of the old epoch mean nothing. Publish afterwards.
   */
  restartHistory(epoch: string): void {
    this.epoch = epoch;
    this.history.clear();
  }

  /** Sends `event` as it is on every open WatchRouteChanges stream (a faulty control plane). */
  injectEvent(event: WatchEvent): void {
    for (const send of this.changeStreams) send(event);
  }

  /** The first event for a router at `position`: the changes since, a keepalive, or a snapshot. */
  private firstEvent(position: { epoch: string; version: bigint } | undefined): WatchEvent {
    const known = position?.epoch === this.epoch ? this.history.get(position.version) : undefined;
    if (known === undefined) return snapshotEvent(this.epoch, this.table.version, entriesOf(this.table));
    if (known.version === this.table.version) return keepaliveEvent(this.epoch, known.version);
    return deltaBetween(known, this.table);
  }

  async start(): Promise<void> {
    const cp = this;
    const routes = (router: ConnectRouter): void => {
      const auth = (h: Headers): void => {
        if (h.get("authorization") !== `Bearer ${JOIN_TOKEN}`) {
          this.badAuth++;
          throw new ConnectError("bad token", Code.Unauthenticated);
        }
      };
      router.service(RouteService, {
        getRoutes: (_req, ctx) => {
          auth(ctx.requestHeader);
          return { table: this.table, epoch: this.epoch };
        },
        async *watchRoutes(req, ctx) {
          auth(ctx.requestHeader);
          cp.watchCalls++;
          const queue: RouteTable[] = [];
          let wake: (() => void) | null = null;
          const push = (t: RouteTable): void => {
            queue.push(t);
            wake?.();
          };
          cp.watchers.add(push);
          try {
            if (req.knownVersion !== cp.table.version) yield { table: cp.table };
            while (!ctx.signal.aborted) {
              if (queue.length === 0)
                await new Promise<void>((r) => {
                  wake = r;
                  ctx.signal.addEventListener("abort", () => r());
                });
              const t = queue.shift();
              if (t !== undefined) yield { table: t };
            }
          } finally {
            cp.watchers.delete(push);
          }
        },
        async *watchRouteChanges(req, ctx) {
          auth(ctx.requestHeader);
          cp.watchCalls++;
          cp.positions.push(req.position?.epoch ? `${req.position.epoch}/${req.position.version}` : "");
          let last = cp.table;
          const queue: WatchEvent[] = [cp.firstEvent(req.position?.epoch ? req.position : undefined)];
          let wake: (() => void) | null = null;
          const send = (event: WatchEvent): void => {
            queue.push(event);
            wake?.();
          };
          const push = (t: RouteTable): void => {
            send(deltaBetween(last, t));
            last = t;
          };
          cp.watchers.add(push);
          cp.changeStreams.add(send);
          try {
            while (!ctx.signal.aborted) {
              if (queue.length === 0) {
                await new Promise<void>((r) => {
                  wake = r;
                  ctx.signal.addEventListener("abort", () => r());
                });
              }
              const event = queue.shift();
              if (event === undefined) continue;
              cp.sent.push(event.kind.case as "snapshot" | "delta" | "keepalive");
              yield { event };
            }
          } finally {
            cp.watchers.delete(push);
            cp.changeStreams.delete(send);
          }
        },
        reportBackendFailure: (req, ctx) => {
          auth(ctx.requestHeader);
          this.reports.push({ assignmentId: req.assignmentId, reason: req.reason, routerId: req.routerId });
          return {};
        },
      });
    };
    this.server = createServer(connectNodeAdapter({ routes }));
    await new Promise<void>((r) => this.server!.listen(this.port, "127.0.0.1", r));
  }

  async stop(): Promise<void> {
    // Streams of closed connections take nothing more, even before their handlers notice.
    this.watchers.clear();
    this.changeStreams.clear();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = null;
  }
}
