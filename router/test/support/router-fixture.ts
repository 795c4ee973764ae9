/**
 * Starts an in-process router on free ports, with a static routes file or following a control
 * plane, and gives connect-node gRPC clients for it.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { createRouter, parseRouterConfig, type RouteInput, type Router, type RouterConfigInput, type RouterDeps, type UnreadyInput } from "../../src/index.ts";

/** A started router with gRPC clients for it. */
export interface RunningRouter {
  router: Router;
  port: number;
  metricsPort: number;
  baseUrl: string;
  client<S extends DescService>(service: S): Client<S>;
  close(): Promise<void>;
}

/** A router serving a static routes file that the test rewrites. */
export interface RouterFixture extends RunningRouter {
  /** Rewrites the routes file (with `unready` instances when given) and reloads it. */
  setRoutes(routes: Partial<RouteInput>[], version?: number, unready?: Partial<UnreadyInput>[]): Promise<void>;
}

export function route(instanceName: string, address: string, extra: Partial<RouteInput> = {}): RouteInput {
  return { instanceName, address, modelId: "BAAI/bge-small-en-v1.5", node: "node-1", assignmentId: `${instanceName}-a`, replica: 0, ...extra };
}

async function launch(config: RouterConfigInput, cleanup: () => Promise<void> = async () => {}, deps: RouterDeps = {}): Promise<RunningRouter> {
  const router = createRouter(parseRouterConfig({ listen: "127.0.0.1:0", metricsListen: "127.0.0.1:0", shutdownGraceMs: 200, ...config }), {
    log: pino({ level: process.env.ROUTER_TEST_LOG ?? "silent" }),
    ...deps,
  });
  const { port, metricsPort } = await router.start();
  const baseUrl = `http://127.0.0.1:${port}`;
  const transport = createGrpcTransport({ baseUrl });
  return {
    router,
    port,
    metricsPort,
    baseUrl,
    client: (service) => createClient(service, transport),
    async close() {
      await router.stop();
      await cleanup();
    },
  };
}

export async function startRouter(routes: Partial<RouteInput>[], config: Partial<RouterConfigInput> = {}, deps: RouterDeps = {}): Promise<RouterFixture> {
  const dir = await mkdtemp(join(tmpdir(), "tei-router-test-"));
  const file = join(dir, "routes.json");
  let version = 1;
  const write = (rs: Partial<RouteInput>[], v: number, unready?: Partial<UnreadyInput>[]) =>
    writeFile(file, JSON.stringify({ version: v, routes: rs, ...(unready ? { unready } : {}) }));
  await write(routes, version);
  const running = await launch({ ...config, routesFile: file }, () => rm(dir, { recursive: true, force: true }), deps);
  return {
    ...running,
    async setRoutes(rs, v, unready) {
      version = v ?? version + 1;
      await write(rs, version, unready);
      await running.router.reloadRoutesFile();
    },
  };
}

/** Starts a router that follows the route table of the control plane at `controlPlane` (a URL). */
export function startWatchingRouter(controlPlane: string, joinToken: string, config: Partial<RouterConfigInput> = {}): Promise<RunningRouter> {
  return launch({ ...config, controlPlane, joinToken });
}

/** The sum of every sample of metric `name` (all label sets) on the router's /metrics. */
export async function metric(fx: RunningRouter, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${fx.metricsPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  return sum;
}
