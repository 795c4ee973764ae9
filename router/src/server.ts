/**
 * The router process: an h2c gRPC server (router/src/h2/) that hands each call to
 * proxy-call.ts, the route table and its source (control-plane watch or static file), backend
 * connections, outlier detection and the metrics endpoint, wired together with a start/stop
 * lifecycle.
 */
import type { Server as HttpServer } from "node:http";
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from "node:net";
import { pino, type Logger } from "pino";
import type { Registry } from "prom-client";
import { BackendPool } from "./backend-pool.ts";
import { splitHostPort, type RouterConfig } from "./config.ts";
import { GrpcStatus, type GrpcStatusCode } from "./grpc-status.ts";
import { ErrorCode } from "./h2/frames.ts";
import { H2ServerConnection } from "./h2/h2-server-connection.ts";
import { headerValue, type H2Stream, type StreamHandler } from "./h2/h2-stream.ts";
import { METHODS, METHOD_COUNT, type MethodSpec } from "./method-table.ts";
import { RouterMetrics } from "./metrics.ts";
import { startMetricsServer } from "./metrics-server.ts";
import { OutlierDetector } from "./outlier-detector.ts";
import type { ProxyContext } from "./proxy-context.ts";
import { startCall } from "./proxy-call.ts";
import { RouteTable, type RouteInput, type UnreadyInput } from "./route-table.ts";
import { startRouteWatcher, type RouteWatcher } from "./route-watcher.ts";
import { loadRoutesFile } from "./routes-file.ts";
import { sendStatus } from "./status-response.ts";

/** Dependencies a caller may inject (tests, embedding); all optional. */
export interface RouterDeps {
  /** Defaults to a pino logger at config.logLevel on stderr. */
  log?: Logger;
  /** Defaults to a fresh Registry with default process metrics. */
  registry?: Registry;
}

/** A router instance. */
export interface Router {
  /** Binds both ports and starts following the route source; resolves with the bound ports. */
  start(): Promise<{ port: number; metricsPort: number }>;
  /** Stops accepting calls, lets open ones finish for the grace period, closes everything. */
  stop(): Promise<void>;
  /** The live route table. */
  readonly table: RouteTable;
  /** The metrics (registry included). */
  readonly metrics: RouterMetrics;
  /** Re-reads the routes file (static mode only; SIGHUP in the CLI). */
  reloadRoutesFile(): Promise<void>;
}

const HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check";
/** HealthCheckResponse{status: SERVING} and {status: NOT_SERVING}, framed. */
const HEALTH_SERVING = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]);
const HEALTH_NOT_SERVING = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x02]);

/** Stands for every path the router does not know, so metrics do not grow a label per path. */
const UNKNOWN_METHOD: MethodSpec = {
  id: METHOD_COUNT,
  name: "unknown",
  upstreamPath: "",
  kind: "unary",
  mux: false,
  truncationField: 0,
  emptyRequest: false,
  refuseEmptyStream: false,
  unimplemented: "unknown method",
};

function isGrpcContentType(ct: string | undefined): boolean {
  if (ct === undefined || !ct.startsWith("application/grpc")) return false;
  const rest = ct.slice(16);
  return rest === "" || rest.startsWith("+proto") || rest.startsWith(";");
}

/**
 * Owns a stream the router has already answered: request bytes still arriving are credited
 * and dropped, so the client is never stuck on flow control.
 */
const DISCARD: StreamHandler = {
  onHeaders() {},
  onData(stream, data) {
    stream.conn.consume(stream, data.length);
  },
  onReset() {},
  onDrain() {},
};

const HEALTH_HEADERS = [":status", "200", "content-type", "application/grpc"];
const OK_TRAILERS = ["grpc-status", "0"];

/** Creates a router from a validated configuration. */
export function createRouter(config: RouterConfig, deps: RouterDeps = {}): Router {
  const log = deps.log ?? pino({ name: "tei-router", level: config.logLevel }, pino.destination(2));
  const table = new RouteTable();
  const metrics = new RouterMetrics(table, deps.registry);
  const pool = new BackendPool(log, { connectTimeoutMs: config.connectTimeoutMs, keepaliveMs: config.backendKeepaliveMs });
  let watcher: RouteWatcher | null = null;
  const outliers = new OutlierDetector({
    consecutiveFailures: config.ejectAfterFailures,
    baseEjectionMs: config.ejectionMs,
    maxEjectionMs: config.ejectionMs * 10,
    onEject(r, reason, ms) {
      metrics.ejected(r);
      log.warn({ instance: r.instanceName, replica: r.replica, node: r.node, address: r.address, reason, ejectionMs: ms }, "backend ejected");
      if (watcher !== null && r.assignmentId !== "") void watcher.reportFailure(r.assignmentId, reason);
    },
  });
  const ctx: ProxyContext = { table, pool, outliers, metrics, log, maxMessageBytes: config.maxMessageBytes };

  const applyTable = (routes: readonly RouteInput[], version: bigint, source: string, unready: readonly UnreadyInput[]): void => {
    const diff = table.replace(routes, version, unready);
    pool.retain(new Set(routes.map((r) => r.address)));
    if (diff.added.length > 0 || diff.removed.length > 0) {
      log.info({ version: String(version), replicas: table.size, added: diff.added.length, removed: diff.removed.length, source }, "route table updated");
    }
  };

  const onStream = (stream: H2Stream, headers: string[], endStream: boolean): void => {
    const path = headerValue(headers, ":path") ?? "";
    const verb = headerValue(headers, ":method");
    const contentType = headerValue(headers, "content-type");
    const method = METHODS.get(path);
    if (verb !== "POST") {
      reject(stream, method, GrpcStatus.UNIMPLEMENTED, `gRPC calls use POST, not ${verb}`, 405);
    } else if (!isGrpcContentType(contentType)) {
      reject(stream, method, GrpcStatus.INVALID_ARGUMENT, `content-type must be application/grpc, got "${contentType ?? ""}"`, 415);
    } else if (method !== undefined && method.unimplemented === undefined) {
      startCall(ctx, stream, headers, method, endStream);
    } else if (method !== undefined) {
      reject(stream, method, GrpcStatus.UNIMPLEMENTED, method.unimplemented ?? "unimplemented");
    } else if (path === HEALTH_CHECK_PATH) {
      answerHealth(stream);
    } else {
      reject(stream, undefined, GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`);
    }
  };

  const reject = (stream: H2Stream, method: MethodSpec | undefined, code: number, message: string, httpStatus = 200): void => {
    stream.handler = DISCARD;
    sendStatus(stream, code as GrpcStatusCode, message, null, httpStatus);
    metrics.record(metrics.forCall(null, method ?? UNKNOWN_METHOD), code, 0);
  };

  /** The router's own health: SERVING once it has a route table (for load balancers). */
  const answerHealth = (stream: H2Stream): void => {
    stream.handler = DISCARD;
    const conn = stream.conn;
    conn.sendHeaders(stream, HEALTH_HEADERS, false);
    conn.sendData(stream, table.loaded ? HEALTH_SERVING : HEALTH_NOT_SERVING, false);
    conn.sendHeaders(stream, OK_TRAILERS, true);
  };

  /** A request the HTTP/2 layer refused as malformed: the client's mistake, not a backend's. */
  const onMalformed = (reason: string): void => {
    metrics.malformed();
    log.debug({ reason }, "malformed request refused");
  };

  const connections = new Set<H2ServerConnection>();
  const server: TcpServer = createTcpServer({ noDelay: true }, (socket: Socket) => {
    const conn = new H2ServerConnection(socket, {
      streamWindow: 4 << 20,
      connectionWindow: 32 << 20,
      maxConcurrentStreams: config.maxConcurrentStreams,
      onStream,
      onMalformed,
      onClose: (_conn, reason) => {
        connections.delete(conn);
        log.debug({ reason }, "client connection closed");
      },
    });
    connections.add(conn);
  });
  let metricsServer: HttpServer | null = null;

  const router: Router = {
    table,
    metrics,
    async start() {
      if (config.routesFile !== undefined) {
        await router.reloadRoutesFile();
      } else if (config.controlPlane !== undefined) {
        watcher = startRouteWatcher({
          baseUrl: config.controlPlane,
          joinToken: config.joinToken,
          log,
          resyncIntervalMs: config.resyncIntervalMs,
          idleTimeoutMs: config.watchIdleTimeoutMs,
          currentVersion: () => table.version,
          onTable: (t, source) => applyTable(t.routes, t.version, source, t.unready),
        });
      }
      const { host, port } = splitHostPort(config.listen);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve();
        });
      });
      const m = splitHostPort(config.metricsListen);
      metricsServer = await startMetricsServer(m.host, m.port, metrics.registry, table);
      const bound = { port: (server.address() as AddressInfo).port, metricsPort: (metricsServer.address() as AddressInfo).port };
      log.info({ listen: `${host}:${bound.port}`, metrics: `${m.host}:${bound.metricsPort}`, source: config.routesFile ?? config.controlPlane }, "router listening");
      return bound;
    },
    async stop() {
      watcher?.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of connections) c.goaway(ErrorCode.NO_ERROR, "router shutting down"); // open calls finish, no new ones
      const grace = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownGraceMs).unref());
      await Promise.race([closed, grace]);
      for (const c of connections) c.destroy();
      pool.closeAll(true);
      await new Promise<void>((resolve) => (metricsServer === null ? resolve() : metricsServer.close(() => resolve())));
    },
    async reloadRoutesFile() {
      if (config.routesFile === undefined) return;
      const t = await loadRoutesFile(config.routesFile);
      applyTable(t.routes, t.version, "file", t.unready);
    },
  };
  return router;
}
