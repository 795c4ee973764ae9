/**
 * A whole router with its HTTP gateway on free ports, routes from a file, and its log lines (info
 * and up) kept in memory, for tests that assert on what it logs (never a key, the trace ids).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { createRouter, parseRouterConfig, type RouteInput, type Router, type RouterConfigInput } from "../../src/index.ts";

/** A running router and its gateway's base URL. */
export interface LoggingGateway {
  readonly router: Router;
  /** `http://127.0.0.1:<port>` of the gateway. */
  readonly http: string;
  /** `http://127.0.0.1:<port>` of the gRPC front (a Connect gRPC transport's baseUrl). */
  readonly grpc: string;
  close(): Promise<void>;
}

/**
 * Starts a router serving `routes`, with `config` over the defaults, writing each log line to `lines`.
 * @param prefix - the temporary directory's name prefix (the routes file lives there)
 */
export async function startLoggingGateway(
  routes: RouteInput[],
  config: Partial<RouterConfigInput>,
  lines: string[],
  prefix = "tei-gateway-test-",
): Promise<LoggingGateway> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const file = join(dir, "routes.json");
  await writeFile(file, JSON.stringify({ version: 1, routes }));
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      cb();
    },
  });
  const router: Router = createRouter(
    parseRouterConfig({ listen: "127.0.0.1:0", metricsListen: "127.0.0.1:0", httpListen: "127.0.0.1:0", shutdownGraceMs: 200, routesFile: file, ...config }),
    { log: pino({ level: "info" }, sink) },
  );
  const { port, httpPort } = await router.start();
  return {
    router,
    http: `http://127.0.0.1:${httpPort}`,
    grpc: `http://127.0.0.1:${port}`,
    async close() {
      await router.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
