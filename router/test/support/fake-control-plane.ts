/**
 * A stand-in control plane serving RouteService over HTTP/1.1 with Connect, like the real one:
 * WatchRoutes (a full table on connect and on every publish), GetRoutes, and
 * ReportBackendFailure, whose reports it keeps so tests can see what a router reported.
 */
import { createServer, type Server } from "node:http";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { RouteService, RouteTableSchema, type RouteTable } from "@tei-fleet/proto/fleet/v1";

/** The join token the fake control plane accepts. */
export const JOIN_TOKEN = "join-secret";

/** A route to publish; model and node default to "m" and "n1". */
export interface PublishedRoute {
  name: string;
  address: string;
  modelId?: string;
  node?: string;
}

export class FakeControlPlane {
  table: RouteTable = create(RouteTableSchema, { version: 0n, routes: [] });
  watchers = new Set<(t: RouteTable) => void>();
  watchCalls = 0;
  badAuth = 0;
  reports: { assignmentId: string; reason: string; routerId: string }[] = [];
  server: Server | null = null;

  /** Listens on `port` once started; until then a router pointed at it finds nothing there. */
  readonly port: number;
  constructor(port: number) {
    this.port = port;
  }

  /** Replaces the table (assignment id `<name>-asg`, replica 0) and pushes it to every watch. */
  publish(version: number, routes: PublishedRoute[]): void {
    this.table = create(RouteTableSchema, {
      version: BigInt(version),
      routes: routes.map((r) => ({ assignmentId: `${r.name}-asg`, instanceName: r.name, replica: 0, modelId: r.modelId ?? "m", node: r.node ?? "n1", address: r.address })),
    });
    for (const w of this.watchers) w(this.table);
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
          return { table: this.table };
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
              if (queue.length === 0) await new Promise<void>((r) => ((wake = r), ctx.signal.addEventListener("abort", () => r())));
              const t = queue.shift();
              if (t !== undefined) yield { table: t };
            }
          } finally {
            cp.watchers.delete(push);
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
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = null;
  }
}
