/**
 * The router process, wired together with a start/stop lifecycle: an h2c gRPC server (h2/)
 * whose every call passes the admission chain (admission/) and is then proxied (proxy/) to a
 * backend connection (backends/) chosen by the route table and its balancer (routing/), kept
 * current from a control-plane watch or a static file; outlier detection and the metrics
 * endpoint.
 */
import type { Server as HttpServer } from "node:http";
import { type AddressInfo, createServer as createTcpServer, type Socket, type Server as TcpServer } from "node:net";
import { type Logger, pino } from "pino";
import type { Registry } from "prom-client";
import { type AdmissionCall, type AdmissionStep, admissionCall, runAdmission } from "./admission/admission.ts";
import { GRPC_CALL_STEPS, GRPC_REQUEST_STEPS } from "./admission/grpc-chain.ts";
import { BackendPool } from "./backends/backend-pool.ts";
import { type RouterConfig, splitHostPort } from "./config.ts";
import { RouterError } from "./grpc/grpc-status.ts";
import { ErrorCode, H2ServerConnection, type H2Stream, headerValue } from "./h2/index.ts";
import { RouterMetrics } from "./metrics/router-metrics.ts";
import { startMetricsServer } from "./metrics-server.ts";
import { admitCall } from "./proxy/admit-call.ts";
import { DISCARD, refuseCall } from "./proxy/call-refusal.ts";
import type { ProxyContext } from "./proxy/proxy-context.ts";
import type { Balancer } from "./routing/balancer.ts";
import { OutlierDetector } from "./routing/outlier-detector.ts";
import type { RouteInput } from "./routing/replica.ts";
import { RouteTable, type UnreadyInput } from "./routing/route-table.ts";
import { type RouteWatcher, startRouteWatcher } from "./routing/route-watcher.ts";
import { loadRoutesFile } from "./routing/routes-file.ts";
import { METHODS } from "./tei/method-table.ts";

/** Dependencies a caller may inject (tests, embedding); all optional. */
export interface RouterDeps {
  /** Defaults to a pino logger at config.logLevel on stderr. */
  log?: Logger;
  /** Defaults to a fresh Registry with default process metrics. */
  registry?: Registry;
  /** How a call's replica is picked within its instance or model. Defaults to round-robin. */
  balancer?: Balancer;
  /**
   * Admission steps every proxied call passes after the gRPC ones (POST, content-type, a served
   * method, the target from metadata), before its backend is chosen. Default none.
   */
  admission?: readonly AdmissionStep[];
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

const HEALTH_HEADERS = [":status", "200", "content-type", "application/grpc"];
const OK_TRAILERS = ["grpc-status", "0"];

/** Creates a router from a validated configuration. */
export function createRouter(config: RouterConfig, deps: RouterDeps = {}): Router {
  const log = deps.log ?? pino({ name: "tei-router", level: config.logLevel }, pino.destination(2));
  const table = new RouteTable(deps.balancer);
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
  const ctx: ProxyContext = {
    table,
    pool,
    outliers,
    metrics,
    log,
    maxMessageBytes: config.maxMessageBytes,
    admission: [...GRPC_CALL_STEPS, ...(deps.admission ?? [])],
  };

  const applyTable = (routes: readonly RouteInput[], version: bigint, source: string, unready: readonly UnreadyInput[]): void => {
    const diff = table.replace(routes, version, unready);
    pool.retain(new Set(routes.map((r) => r.address)));
    if (diff.added.length > 0 || diff.removed.length > 0) {
      log.info({ version: String(version), replicas: table.size, added: diff.added.length, removed: diff.removed.length, source }, "route table updated");
    }
  };

  const onStream = (stream: H2Stream, headers: string[], endStream: boolean): void => {
    const path = headerValue(headers, ":path") ?? "";
    const call = admissionCall(path, headers, METHODS.get(path));
    if (path === HEALTH_CHECK_PATH) answerHealth(stream, call);
    else admitCall(ctx, stream, call, endStream);
  };

  /**
   * The router's own health (for load balancers): SERVING once it has a route table. A gRPC
   * call like any other (POST, gRPC's content-type), but never forwarded, so the rest of the
   * chain (and the API key to come) does not apply to it.
   */
  const answerHealth = (stream: H2Stream, call: AdmissionCall): void => {
    const refusal = runAdmission(GRPC_REQUEST_STEPS, call);
    if (refusal instanceof RouterError) {
      refuseCall(metrics, stream, call, refusal);
      return;
    }
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
      log.info(
        { listen: `${host}:${bound.port}`, metrics: `${m.host}:${bound.metricsPort}`, source: config.routesFile ?? config.controlPlane },
        "router listening",
      );
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
