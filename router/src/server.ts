/**
 * The router process, wired together with a start/stop lifecycle: an h2c gRPC server (h2/)
 * whose every call passes the admission chain (admission/) and is then proxied (proxy/) to a
 * backend connection (backends/) chosen by the route table and its balancer (routing/), kept
 * current from a control-plane watch or a static file; outlier detection and the metrics
 * endpoint; with an OTLP endpoint, gRPC calls and the HTTP gateway's requests traced (tracing/).
 */
import { randomBytes } from "node:crypto";
import { type AddressInfo, createServer as createTcpServer, type Socket, type Server as TcpServer } from "node:net";
import { hostname } from "node:os";
import { type CheckResult, createLogger, type HealthServer, startHealthServer } from "@tei-fleet/core/service";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { type AdmissionStep, admissionCall } from "./admission/admission.ts";
import { registerAdmissionMetrics } from "./admission/admission-metrics.ts";
import { loadApiKeysFile } from "./admission/api-keys-file.ts";
import { createControlPlaneShareSource, shareRouterId } from "./admission/control-plane-share-source.ts";
import { createFleetAdmission, type FleetAdmission } from "./admission/fleet-admission.ts";
import { GRPC_CALL_STEPS } from "./admission/grpc-chain.ts";
import { registerUsageMetrics } from "./admission/usage-metrics.ts";
import { controlPlaneUsageSink } from "./admission/usage-reporter.ts";
import { WatchedKeys } from "./admission/watched-keys.ts";
import { registerEmbedArrow } from "./arrow/embed-arrow-call.ts";
import { BackendPool } from "./backends/backend-pool.ts";
import { CatalogModelResolver, CatalogView, createCatalogFeed, createCatalogSteps } from "./catalog/index.ts";
import { type RouterConfig, splitHostPort } from "./config.ts";
import { RouteTableModelResolver } from "./gateway/model-resolver.ts";
import { createGateway, type Gateway } from "./gateway/server/gateway-server.ts";
import { ErrorCode, H2ServerConnection, type H2Stream, headerValue } from "./h2/index.ts";
import { RouterMetrics } from "./metrics/router-metrics.ts";
import { admitCall } from "./proxy/admit-call.ts";
import type { ProxyContext } from "./proxy/proxy-context.ts";
import { answerRouterHealth, HEALTH_CHECK_PATH } from "./proxy/router-health.ts";
import type { Balancer } from "./routing/balancer.ts";
import { OutlierDetector } from "./routing/outlier-detector.ts";
import type { RouteInput } from "./routing/replica.ts";
import { NO_TABLE_YET, RouteTable, type TableChanges, type UnreadyInput } from "./routing/route-table.ts";
import { type RouteWatcher, startRouteWatcher } from "./routing/route-watcher.ts";
import { loadRoutesFile } from "./routing/routes-file.ts";
import { METHODS } from "./tei/method-table.ts";
import type { Tracing } from "./tracing/request-tracer.ts";
import { startTracing } from "./tracing/start-tracing.ts";

/** Dependencies a caller may inject (tests, embedding); all optional. */
export interface RouterDeps {
  /** Defaults to the service kit's logger (`service: "tei-router"`, tokens redacted) at config.logLevel on stderr. */
  log?: Logger;
  /** Where the gateway's line per request goes; default `log` (main.ts passes one that batches lines). */
  requestLog?: Logger;
  /** Defaults to a fresh Registry with default process metrics. */
  registry?: Registry;
  /** How a call's replica is picked within its instance or model. Defaults to round-robin. */
  balancer?: Balancer;
  /**
   * Admission steps every proxied call passes after the gRPC ones (POST, content-type, a served
   * method, the target from metadata) and before the fleet's own (API key, rate limit, queue:
   * `config.requireApiKeys`, `maxInflightGlobal`...), before its backend is chosen. Default none.
   */
  admission?: readonly AdmissionStep[];
  /**
   * Called once, when the router first has a route table and so turns ready (/readyz, its gRPC
   * health), in the same turn, before any readiness check can see it ready: main.ts collects
   * start-up garbage then (process-tuning.ts).
   */
  onReady?: () => void;
}

/** A router instance. */
export interface Router {
  /** Binds both ports and starts following the route source; resolves with the bound ports. */
  start(): Promise<{ port: number; metricsPort: number; httpPort?: number }>;
  /** Stops accepting calls, lets open ones finish for the grace period, closes everything. */
  stop(): Promise<void>;
  /** The live route table. */
  readonly table: RouteTable;
  /** The metrics (registry included). */
  readonly metrics: RouterMetrics;
  /** Re-reads the routes file (static mode only; SIGHUP in the CLI). */
  reloadRoutesFile(): Promise<void>;
  /** The fleet's admission (keys, limits, queue), for the other front (the HTTP gateway) to share. */
  readonly admission: FleetAdmission;
  /** Re-reads the API keys file (when `apiKeysFile` is set; SIGHUP in the CLI). */
  reloadApiKeysFile(): Promise<void>;
  /** The model catalog (aliases, switches, remote backends) from the control plane's watch. */
  readonly catalog: CatalogView;
}

/** How often a router with a control plane renews its shares of the keys' limits. */
const SHARE_RENEW_MS = 300;
/** Period of the per-key usage reports (AdmissionService.ReportUsage): fresh within about a second. */
const USAGE_REPORT_MS = 500;

/**
 * What the spans still buffered at stop get to reach the collector, ms: within the margin the
 * CLI gives stop() beyond the grace period (main.ts), so a collector that is away cannot hold
 * the exit up.
 */
const TRACE_FLUSH_MS = 3000;

/** Creates a router from a validated configuration. */
export function createRouter(config: RouterConfig, deps: RouterDeps = {}): Router {
  registerEmbedArrow(); // tei-manager's EmbedArrow (apache-arrow itself loads on the first call)
  const log = deps.log ?? createLogger("tei-router", config.logLevel);
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
  const routerName = shareRouterId(`${hostname()}/${process.pid}/${randomBytes(3).toString("hex")}`);
  const fleetAdmission = createFleetAdmission({
    requireApiKeys: config.requireApiKeys,
    maxInflightGlobal: config.maxInflightGlobal,
    maxQueuePerModel: config.maxQueuePerModel,
    requestTimeoutMs: config.requestTimeoutMs,
    routerCount: config.routerCount,
    table,
    // Shares of the keys' limits from the control plane (admission.proto), when there is one and
    // keys are required (nothing is limited otherwise); with a routes file each router enforces
    // 1/--router-count.
    ...(config.controlPlane === undefined || !config.requireApiKeys
      ? {}
      : {
          shareSource: createControlPlaneShareSource({ baseUrl: config.controlPlane, joinToken: config.joinToken, routerCount: config.routerCount }),
          shareIntervalMs: SHARE_RENEW_MS,
          routerName,
          onShareSourceChange: (reachable: boolean, err?: unknown) => {
            if (reachable) log.info("rate-limit shares renewed from the control plane again");
            else log.warn({ err: (err as Error | undefined)?.message }, "control plane unreachable for rate-limit shares: keeping the last shares");
          },
          // Per-key usage (admission/usage-reporter.ts): deltas, resent until acknowledged.
          usageSink: controlPlaneUsageSink({ baseUrl: config.controlPlane, joinToken: config.joinToken }),
          usageIntervalMs: USAGE_REPORT_MS,
          onUsageSinkChange: (reachable: boolean, err?: unknown) => {
            if (reachable) log.info("usage reports delivered to the control plane again");
            else log.warn({ err: (err as Error | undefined)?.message }, "control plane unreachable for usage reports: keeping the counts until it answers");
          },
        }),
  });
  registerAdmissionMetrics(metrics.registry, fleetAdmission);
  registerUsageMetrics(metrics.registry, fleetAdmission.usage);
  // The model catalog and (without a keys file, which then rules) the API keys, fed from the
  // route watch's other collections (catalog/catalog-feed.ts).
  const catalog = new CatalogView(config.secrets);
  const watchedKeys = config.apiKeysFile === undefined ? new WatchedKeys(fleetAdmission.keys) : null;
  const feedCatalog = createCatalogFeed(catalog, watchedKeys);
  // Names resolve through the catalog, then the route table: on the HTTP gateway, and for the
  // gRPC front's x-tei-model (aliases, switched-off models: catalog/grpc-catalog-steps.ts).
  const resolver = new CatalogModelResolver(catalog, new RouteTableModelResolver(table));
  const catalogSteps = createCatalogSteps(catalog, resolver);
  const ctx: ProxyContext = {
    table,
    pool,
    outliers,
    metrics,
    log,
    maxMessageBytes: config.maxMessageBytes,
    withholdAuthorization: config.requireApiKeys,
    admission: [...GRPC_CALL_STEPS, catalogSteps.check, ...(deps.admission ?? []), ...fleetAdmission.steps, catalogSteps.route],
    tracer: null, // set in start() when an OTLP endpoint is configured
  };

  let announcedReady = false;
  const noteReady = (): void => {
    if (announcedReady || !table.loaded) return;
    announcedReady = true;
    deps.onReady?.();
  };

  const applyTable = (routes: readonly RouteInput[], version: bigint, source: string, unready: readonly UnreadyInput[]): void => {
    const diff = table.replace(routes, version, unready);
    noteReady();
    pool.retain(new Set(routes.map((r) => r.address)));
    if (diff.added.length > 0 || diff.removed.length > 0) {
      log.info({ version: String(version), replicas: table.size, added: diff.added.length, removed: diff.removed.length, source }, "route table updated");
    }
  };

  /** A watch delta, applied in place; connections of addresses it left unused are closed. */
  const applyChanges = (changes: TableChanges, version: bigint): void => {
    const diff = table.applyChanges(changes, version);
    noteReady();
    for (const r of diff.removed) if (!table.usesAddress(r.address)) pool.release(r.address);
    if (diff.added.length > 0 || diff.removed.length > 0) {
      log.info(
        { version: String(version), replicas: table.size, added: diff.added.length, removed: diff.removed.length, source: "delta" },
        "route table updated",
      );
    }
  };

  const onStream = (stream: H2Stream, headers: string[], endStream: boolean): void => {
    const path = headerValue(headers, ":path") ?? "";
    const call = admissionCall(path, headers, METHODS.get(path));
    if (path === HEALTH_CHECK_PATH) answerRouterHealth(metrics, stream, call, table.loaded);
    else admitCall(ctx, stream, call, endStream);
  };

  /** A request the HTTP/2 layer refused as malformed: the client's mistake, not a backend's. */
  const onMalformed = (reason: string): void => {
    metrics.malformed();
    log.debug({ reason }, "malformed request refused");
  };

  /**
   * What /healthz and /readyz say (the service kit's health server): alive whenever it answers;
   * ready once a route table is loaded (until then 503 "route table not yet received", the
   * status routed calls get too).
   */
  const tableHealth = (): CheckResult => ({
    ok: true,
    details: {
      ...(table.loaded ? {} : { status: NO_TABLE_YET }),
      tableVersion: String(table.version),
      replicas: table.size,
      tableAgeSeconds: table.loaded ? (Date.now() - table.updatedAt) / 1000 : null,
    },
  });

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
  let metricsServer: HealthServer | null = null;
  let gateway: Gateway | null = null; // HTTP gateway, when httpListen is set
  let tracing: Tracing | null = null; // spans of calls and gateway requests, when otlpEndpoint is set

  const router: Router = {
    table,
    metrics,
    admission: fleetAdmission,
    catalog,
    async start() {
      await router.reloadApiKeysFile();
      // Said at start-up: whether this router serves anyone (operators must not learn it from an incident).
      if (config.requireApiKeys && config.apiKeysFile === undefined && config.controlPlane !== undefined)
        log.info("API keys required: checked against the control plane's keys (route watch)");
      else if (config.requireApiKeys && config.apiKeysFile === undefined)
        log.warn("API keys required, but no keys file: every call is refused until keys arrive");
      else if (config.requireApiKeys) log.info({ apiKeys: fleetAdmission.keys.size, apiKeysFile: config.apiKeysFile }, "API keys required");
      else log.info("API keys not required: every client is served, as TEI does (--require-api-keys true to require them)");
      if (config.secrets !== undefined)
        log.info({ secretsKeys: config.secrets.describe() }, "remote backends' sealed upstream keys are opened with TEI_FLEET_SECRETS_KEY");
      fleetAdmission.start();
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
          onChanges: (changes, version) => applyChanges(changes, version),
          onWatch: (mirror, applied) => {
            const n = feedCatalog(mirror, applied);
            // Counts only: entries hold hashes and upstream keys.
            if (applied.kind === "snapshot" || n.catalog > 0 || n.keys > 0) {
              log.info({ version: String(mirror.version), source: applied.kind, catalogEntries: n.catalog, apiKeys: n.keys }, "catalog and keys updated");
            }
          },
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
      metricsServer = await startHealthServer({
        host: m.host,
        port: m.port,
        registry: metrics.registry,
        live: tableHealth,
        ready: () => ({ ...tableHealth(), ok: table.loaded }),
      });
      const bound: { port: number; metricsPort: number; httpPort?: number } = {
        port: (server.address() as AddressInfo).port,
        metricsPort: metricsServer.port,
      };
      if (config.otlpEndpoint !== undefined) {
        tracing = await startTracing(
          {
            endpoint: config.otlpEndpoint,
            serviceName: config.otelServiceName,
            sampler: config.otelTracesSampler,
            samplerArg: config.otelTracesSamplerArg,
            instanceId: routerName,
          },
          log,
        );
      }
      const tracer = tracing?.tracer ?? null;
      ctx.tracer = tracer;
      // ---- HTTP gateway (router/src/gateway/), only when httpListen is set ----
      if (config.httpListen !== undefined) {
        // The same admission as the gRPC front (keys, limits, queue), after its protocol steps.
        const admission = [...(deps.admission ?? []), ...fleetAdmission.steps];
        const { requestLog } = deps;
        const gatewayDeps = { attempt: ctx, table, registry: metrics.registry, log, requestLog, admission, resolver, tracer, spare: fleetAdmission.queue };
        gateway = createGateway(gatewayDeps, { maxBodyBytes: config.httpMaxBodyBytes });
        const g = splitHostPort(config.httpListen);
        bound.httpPort = await gateway.listen(g.host, g.port);
        log.info({ http: `${g.host}:${bound.httpPort}` }, "HTTP gateway listening");
      }
      // ---- end of the HTTP gateway ----
      log.info(
        { listen: `${host}:${bound.port}`, metrics: `${m.host}:${bound.metricsPort}`, source: config.routesFile ?? config.controlPlane },
        "router listening",
      );
      return bound;
    },
    async stop() {
      watcher?.stop();
      fleetAdmission.stop();
      const gatewayClosed = gateway?.close(config.shutdownGraceMs); // HTTP gateway: drains alongside gRPC
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of connections) c.goaway(ErrorCode.NO_ERROR, "router shutting down"); // open calls finish, no new ones
      const grace = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownGraceMs).unref());
      await Promise.race([closed, grace]);
      for (const c of connections) c.destroy();
      await gatewayClosed; // HTTP gateway
      await tracing?.shutdown(TRACE_FLUSH_MS); // the last requests' spans, once they have ended
      pool.closeAll(true);
      await metricsServer?.close();
    },
    async reloadApiKeysFile() {
      if (config.apiKeysFile === undefined) return;
      fleetAdmission.keys.replace(await loadApiKeysFile(config.apiKeysFile));
    },
    async reloadRoutesFile() {
      if (config.routesFile === undefined) return;
      const t = await loadRoutesFile(config.routesFile);
      applyTable(t.routes, t.version, "file", t.unready);
    },
  };
  return router;
}
