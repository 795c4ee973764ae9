/**
 * Starts an in-process router on free ports with a static routes file, and gives connect-node
 * gRPC clients for it.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
import { pino } from "pino";
import { createRouter, parseRouterConfig, type RouteInput, type Router, type RouterConfigInput, type UnreadyInput } from "../../src/index.ts";

export interface RouterFixture {
  router: Router;
  port: number;
  metricsPort: number;
  baseUrl: string;
  client<S extends DescService>(service: S): Client<S>;
  /** Rewrites the routes file (with `unready` instances when given) and reloads it. */
  setRoutes(routes: Partial<RouteInput>[], version?: number, unready?: Partial<UnreadyInput>[]): Promise<void>;
  close(): Promise<void>;
}

export function route(instanceName: string, address: string, extra: Partial<RouteInput> = {}): RouteInput {
  return { instanceName, address, modelId: "BAAI/bge-small-en-v1.5", node: "node-1", assignmentId: `${instanceName}-a`, replica: 0, ...extra };
}

export async function startRouter(routes: Partial<RouteInput>[], config: Partial<RouterConfigInput> = {}): Promise<RouterFixture> {
  const dir = await mkdtemp(join(tmpdir(), "tei-router-test-"));
  const file = join(dir, "routes.json");
  let version = 1;
  const write = (rs: Partial<RouteInput>[], v: number, unready?: Partial<UnreadyInput>[]) =>
    writeFile(file, JSON.stringify({ version: v, routes: rs, ...(unready ? { unready } : {}) }));
  await write(routes, version);
  const router = createRouter(
    parseRouterConfig({ listen: "127.0.0.1:0", metricsListen: "127.0.0.1:0", routesFile: file, shutdownGraceMs: 200, ...config }),
    { log: pino({ level: process.env.ROUTER_TEST_LOG ?? "silent" }) },
  );
  const { port, metricsPort } = await router.start();
  const baseUrl = `http://127.0.0.1:${port}`;
  const transport = createGrpcTransport({ baseUrl });
  return {
    router,
    port,
    metricsPort,
    baseUrl,
    client: (service) => createClient(service, transport),
    async setRoutes(rs, v, unready) {
      version = v ?? version + 1;
      await write(rs, version, unready);
      await router.reloadRoutesFile();
    },
    async close() {
      await router.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
