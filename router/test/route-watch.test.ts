import { afterAll, beforeAll, expect, test } from "vitest";
import { createServer, type Server } from "node:http";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { RouteService, RouteTableSchema, type RouteTable } from "@tei-fleet/proto/fleet/v1";
import { Embed } from "@tei-fleet/proto/tei/v1";
import { pino } from "pino";
import { createRouter, parseRouterConfig, type Router } from "../src/index.ts";
import { startTestBackend, type TestBackend } from "./support/tei-backend.ts";
import { freePort } from "../../test/harness/free-port.ts";
import { until } from "./support/until.ts";

const TOKEN = "join-secret";

/** A stand-in control plane serving RouteService over HTTP/1.1 with Connect, like the real one. */
class FakeControlPlane {
  table: RouteTable = create(RouteTableSchema, { version: 0n, routes: [] });
  watchers = new Set<(t: RouteTable) => void>();
  watchCalls = 0;
  badAuth = 0;
  reports: { assignmentId: string; reason: string; routerId: string }[] = [];
  server: Server | null = null;

  readonly port: number;
  constructor(port: number) {
    this.port = port;
  }

  publish(version: number, routes: { name: string; address: string }[]): void {
    this.table = create(RouteTableSchema, {
      version: BigInt(version),
      routes: routes.map((r) => ({ assignmentId: `${r.name}-asg`, instanceName: r.name, replica: 0, modelId: "m", node: "n1", address: r.address })),
    });
    for (const w of this.watchers) w(this.table);
  }

  async start(): Promise<void> {
    const cp = this;
    const routes = (router: ConnectRouter): void => {
      const auth = (h: Headers): void => {
        if (h.get("authorization") !== `Bearer ${TOKEN}`) {
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


let cp: FakeControlPlane;
let router: Router;
let port: number;
let a: TestBackend;
let b: TestBackend;

beforeAll(async () => {
  [a, b] = await Promise.all([startTestBackend("a"), startTestBackend("b")]);
  cp = new FakeControlPlane(await freePort());
  cp.publish(1, [{ name: "a", address: a.address }]);
  await cp.start();
  router = createRouter(
    parseRouterConfig({
      listen: "127.0.0.1:0",
      metricsListen: "127.0.0.1:0",
      controlPlane: `http://127.0.0.1:${cp.port}`,
      joinToken: TOKEN,
      ejectAfterFailures: 1,
      watchIdleTimeoutMs: 1500,
      shutdownGraceMs: 100,
    }),
    { log: pino({ level: "silent" }) },
  );
  ({ port } = await router.start());
});
afterAll(async () => {
  await router?.stop();
  await cp?.stop();
  await Promise.all([a?.close(), b?.close()]);
});

const embed = (instance: string) =>
  createClient(Embed, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` })).embed({ inputs: "x" }, { headers: { "x-tei-instance": instance } });

test("the route table follows the control plane's watch, with the join token", async () => {
  await until(() => router.table.version === 1n);
  expect((await embed("a")).embeddings).toHaveLength(8);
  cp.publish(2, [{ name: "a", address: a.address }, { name: "b", address: b.address }]);
  await until(() => router.table.version === 2n);
  expect((await embed("b")).embeddings).toHaveLength(8);
  cp.publish(3, [{ name: "b", address: b.address }]);
  await until(() => router.table.version === 3n);
  await expect(embed("a")).rejects.toMatchObject({ code: Code.NotFound });
  expect(cp.badAuth).toBe(0);
});

test("keeps serving from its last table while the control plane is away, and resyncs on reconnect", async () => {
  const calls = cp.watchCalls;
  await cp.stop();
  expect((await embed("b")).embeddings).toHaveLength(8);
  // The table changed while the router was disconnected; it gets the full table on reconnect.
  cp.publish(7, [{ name: "a", address: a.address }]);
  await cp.start();
  await until(() => router.table.version === 7n, 10_000);
  expect(cp.watchCalls).toBeGreaterThan(calls);
  expect((await embed("a")).embeddings).toHaveLength(8);
  await expect(embed("b")).rejects.toMatchObject({ code: Code.NotFound });
});

test("a watch that falls silent is dropped and reopened", async () => {
  // The fake control plane sends nothing while the table is unchanged (no keepalive).
  const calls = cp.watchCalls;
  await until(() => cp.watchCalls > calls, 5000);
});

test("an ejected backend is reported to the control plane by assignment id", async () => {
  const dead = `127.0.0.1:${await freePort()}`;
  cp.publish(8, [{ name: "dead", address: dead }]);
  await until(() => router.table.version === 8n);
  await expect(embed("dead")).rejects.toMatchObject({ code: Code.Unavailable });
  await until(() => cp.reports.length === 1);
  expect(cp.reports[0]!.assignmentId).toBe("dead-asg");
  expect(cp.reports[0]!.reason).toContain("ECONNREFUSED");
  // Named, so that the control plane can count distinct routers toward its quorum.
  expect(cp.reports[0]!.routerId).toMatch(/^.+\/\d+\/[0-9a-f]{6}$/);
});
