/**
 * An in-process router with its HTTP gateway on free ports, over fake TEI processes listed in a
 * static routes file, and a connect-node gRPC transport straight to a fake TEI for comparisons.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { createRouter, parseRouterConfig, type RouteInput, type Router, type RouterConfigInput } from "../../src/index.ts";

/** A router with its gateway. */
export interface GatewayFixture {
  router: Router;
  /** `http://127.0.0.1:<gateway port>`. */
  http: string;
  metricsPort: number;
  /** Rewrites the routes file and reloads it. */
  setRoutes(routes: RouteInput[]): Promise<void>;
  close(): Promise<void>;
}

/** A route for `instanceName` at `address`. */
export function route(instanceName: string, address: string, extra: Partial<RouteInput> = {}): RouteInput {
  return { instanceName, address, modelId: "BAAI/bge-small-en-v1.5", node: "node-1", assignmentId: `${instanceName}-a`, replica: 0, ...extra };
}

/** Starts a router serving `routes` with its gateway on. */
export async function startGateway(routes: RouteInput[], config: Partial<RouterConfigInput> = {}): Promise<GatewayFixture> {
  const dir = await mkdtemp(join(tmpdir(), "tei-gateway-test-"));
  const file = join(dir, "routes.json");
  let version = 1;
  await writeFile(file, JSON.stringify({ version, routes }));
  const router = createRouter(
    parseRouterConfig({ listen: "127.0.0.1:0", metricsListen: "127.0.0.1:0", httpListen: "127.0.0.1:0", shutdownGraceMs: 200, routesFile: file, ...config }),
    { log: pino({ level: process.env.ROUTER_TEST_LOG ?? "silent" }) },
  );
  const { httpPort, metricsPort } = await router.start();
  return {
    router,
    http: `http://127.0.0.1:${httpPort}`,
    metricsPort,
    async setRoutes(rs) {
      await writeFile(file, JSON.stringify({ version: ++version, routes: rs }));
      await router.reloadRoutesFile();
    },
    async close() {
      await router.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** POSTs JSON (or raw text) and returns status, headers and the parsed body (text when not JSON). */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers by their fields
  return { status: res.status, headers: res.headers, body: json as any, text };
}
