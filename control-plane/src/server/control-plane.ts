import type { AddressInfo } from "node:net";
import type { SecretsKeyring } from "@tei-fleet/core/secrets";
import { createLogger } from "@tei-fleet/core/service";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { admissionConnectRoutes, createShareStore } from "../admission/index.ts";
import type { ApiContext } from "../api/api-context.ts";
import { ensureAdminToken } from "../auth/admin-token.ts";
import { createAuthenticator } from "../auth/authenticator.ts";
import { catalogConnectRoutes, catalogRestPlugin, createCatalog } from "../catalog/index.ts";
import { createEventTailer } from "../events/event-tailer.ts";
import { createInstanceService } from "../instances/instance-service.ts";
import type { SchedulerPort } from "../instances/scheduler-port.ts";
import { createApiKeys, keyConnectRoutes, keyRestPlugin } from "../keys/index.ts";
import { createApiMetrics } from "../metrics/api-metrics.ts";
import { createSnapshotReader } from "../metrics/fleet-snapshot.ts";
import { createScheduler, type SchedulerOptions } from "../scheduler/index.ts";
import { createInstanceRepository } from "../store/instance-repository.ts";
import { createKeySchema, type KeySchema } from "../store/keys.ts";
import { createNodeReader } from "../store/node-reader.ts";
import { createUsageQuery, createUsageStore, registerUsageMetrics, reportUsageHandler, usageConnectRoutes, usageRestPlugin } from "../usage/index.ts";
import { type AppOptions, buildApp } from "./app.ts";
import { type SchedulerSurfaces, schedulerSurfaces } from "./scheduler-wiring.ts";

/** Options of {@link startControlPlane}. Only `redisUrl` is required. */
export interface ControlPlaneOptions {
  /** Redis holding the fleet's state. */
  redisUrl: string;
  /** Key prefix (several fleets or tests on one Redis). Default "tf". */
  prefix?: string;
  /** Listen address. Default 0.0.0.0. */
  host?: string;
  /** Listen port; 0 picks a free one (see `ControlPlane.port`). Default 9000. */
  port?: number;
  /** Directory of the generated admin token file (`admin-token`). Default: none (not written). */
  dataDir?: string;
  /** TEI_FLEET_ADMIN_TOKEN. Without it, one is generated at the first start (see ensureAdminToken). */
  adminToken?: string;
  /** TEI_FLEET_READ_TOKEN: GETs and read RPCs only. */
  readToken?: string;
  /** TEI_FLEET_JOIN_TOKEN: AgentService and RouteService only (node agents, routers). */
  joinToken?: string;
  /**
   * TEI_FLEET_SECRETS_KEY (and _PREVIOUS): remote backends' upstream API keys are stored (and sent
   * to routers) sealed with the current key; at start, keys in plaintext or under a previous key
   * are resealed.
   */
  secrets?: SecretsKeyring;
  /** Most instances the fleet holds. Default 1000. */
  maxInstances?: number;
  /** Logger. Default: the service kit's (JSON on stderr, tokens redacted) at `logLevel`. */
  logger?: Logger;
  /** Default "info". */
  logLevel?: string;
  /** Where the one-time admin token notice goes. Default stderr. */
  notice?: (text: string) => void;
  /** Options passed to the scheduler (timings, worker/reconciler switches). */
  scheduler?: Partial<Omit<SchedulerOptions, "redis" | "keys" | "logger">>;
  /**
   * Replaces the real scheduler. For unit tests of the API alone (validation, auth, errors); a
   * real control plane always runs the scheduler.
   */
  schedulerOverride?: SchedulerPort & { start?(): Promise<void>; stop?(): Promise<void> };
  /** XREAD BLOCK of the Watch tailer, ms. Default 5000. */
  watchBlockMs?: number;
  /** Timeout of a TEI Prometheus scrape for /info, ms. Default 1000. */
  scrapeTimeoutMs?: number;
  /** Timeout of the log proxy's call to an agent, ms. Default 3000. */
  agentTimeoutMs?: number;
  /** Fastify/Connect settings (body limits, shutdown timeout). */
  app?: Omit<AppOptions, "connectRoutes" | "restPlugins">;
  /** Time between two health-probe rounds of the catalog's remote backends, ms; 0 turns them off. Default 15 000. */
  catalogProbeIntervalMs?: number;
  /** A router whose demand reports (AdmissionService.RenewShares) stop counts no more after this, ms. Default 3000. */
  shareTtlMs?: number;
}

/** A running control plane. */
export interface ControlPlane {
  /** Base URL, e.g. http://127.0.0.1:9000 (127.0.0.1 when listening on 0.0.0.0). */
  url: string;
  port: number;
  keys: KeySchema;
  /** The API's Redis connection. */
  redis: Redis;
  /** The admin token, when this process knows it (given, read from the data dir, or generated). */
  adminToken?: string;
  /** The Fastify app (for `inject` in tests). */
  app: Awaited<ReturnType<typeof buildApp>>;
  /** Stops serving, the scheduler and the Redis connections. */
  close(): Promise<void>;
}

/**
 * Starts a control plane in-process: Redis connection, admin token, scheduler, REST + Connect on
 * one port. Every piece of state lives in Redis, so several control planes on one Redis serve
 * the same API with the same results.
 */
export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const logger = options.logger ?? createLogger("tei-control-plane", options.logLevel ?? "info");
  const keys = createKeySchema(options.prefix ?? "tf");
  // Fail API calls fast when Redis is down (503) rather than queueing them for minutes.
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
  await redis.connect();

  const admin = await ensureAdminToken({
    redis,
    keys,
    logger,
    envToken: options.adminToken,
    dataDir: options.dataDir,
    notice: options.notice,
  });
  const repo = createInstanceRepository(redis, keys, logger);
  const nodes = createNodeReader(redis, keys);
  const metrics = createApiMetrics(createSnapshotReader(redis, keys, repo, nodes), logger);

  let scheduler: SchedulerPort & { start?(): Promise<void>; stop?(): Promise<void> };
  let surfaces: SchedulerSurfaces = {};
  if (options.schedulerOverride) {
    scheduler = options.schedulerOverride;
  } else {
    const real = createScheduler({ ...options.scheduler, redis, keys, logger: logger.child({ component: "scheduler" }) });
    surfaces = schedulerSurfaces(real);
    scheduler = real;
  }

  const ctx: ApiContext = {
    redis,
    keys,
    logger,
    repo,
    nodes,
    scheduler,
    metrics,
    instances: createInstanceService({
      redis,
      keys,
      repo,
      scheduler,
      logger,
      maxInstances: options.maxInstances,
      hooks: { created: metrics.instanceCreated, deleted: metrics.instanceDeleted },
    }),
    auth: createAuthenticator({ redis, keys, adminToken: options.adminToken, readToken: options.readToken, joinToken: options.joinToken }),
    events: createEventTailer({ redis, keys, logger, blockMs: options.watchBlockMs }),
    agentToken: options.joinToken,
    scrapeTimeoutMs: options.scrapeTimeoutMs ?? 1000,
    agentTimeoutMs: options.agentTimeoutMs ?? 3000,
  };
  // The model catalog (catalog/): served beside the instance API, delivered in the route watch.
  const catalog = createCatalog({ redis, keys, logger, probeIntervalMs: options.catalogProbeIntervalMs, secrets: options.secrets });
  if (options.secrets !== undefined)
    logger.info({ secretsKeys: options.secrets.describe() }, "remote backends' upstream API keys are sealed (TEI_FLEET_SECRETS_KEY)");
  else logger.warn("TEI_FLEET_SECRETS_KEY is not set: remote backends' upstream API keys are kept in Redis and sent to routers in plaintext");
  const catalogRoutes = catalogConnectRoutes(catalog);
  // API keys for the data path (keys/): records here, hashes and limits to routers in the same watch.
  const apiKeys = createApiKeys(redis, keys);
  const apiKeyRoutes = keyConnectRoutes(apiKeys);
  // Fleet-wide rate limits (admission/): each router's share of every key's limits.
  // Per-key usage (usage/): routers' reports summed in Redis, read over REST and as metrics.
  const usageStore = createUsageStore({ redis, keys });
  const usageQuery = createUsageQuery(redis, keys, usageStore);
  registerUsageMetrics(metrics.registry, redis, keys, usageStore, (err) => logger.warn({ err }, "metrics: could not read usage from Redis"));
  const admissionRoutes = admissionConnectRoutes(createShareStore({ redis, keys, ttlMs: options.shareTtlMs }), reportUsageHandler(usageStore));
  const app = await buildApp(ctx, {
    ...options.app,
    connectRoutes: (router) => {
      surfaces.connectRoutes?.(router);
      admissionRoutes(router);
      catalogRoutes(router);
      apiKeyRoutes(router);
      usageConnectRoutes(usageQuery)(router);
    },
    restPlugins: [
      ...(surfaces.restPlugin ? [surfaces.restPlugin] : []),
      async (scope) => scope.register(catalogRestPlugin, { catalog }),
      async (scope) => scope.register(keyRestPlugin, { keys: apiKeys }),
      async (scope) => scope.register(usageRestPlugin, { usage: usageQuery }),
    ],
  });
  await scheduler.start?.();
  const host = options.host ?? "0.0.0.0";
  try {
    await app.listen({ host, port: options.port ?? 9000 });
  } catch (err) {
    await scheduler.stop?.();
    await ctx.events.close();
    redis.disconnect();
    throw err;
  }
  catalog.health.start();
  if (options.secrets !== undefined) {
    // After a rotation (or once a secrets key is set): every stored key under the current one.
    const current = options.secrets.current.id;
    catalog.backends.resealAll().then(
      (n) => n > 0 && logger.info({ backends: n, secretsKey: current }, "upstream API keys resealed under the current secrets key"),
      (err: unknown) => logger.error({ err: (err as Error).message }, "upstream API keys could not be resealed"),
    );
  }
  const port = (app.server.address() as AddressInfo).port;
  const urlHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;
  logger.info({ url, prefix: keys.prefix, adminTokenSource: admin.source }, "control plane listening");

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    keys,
    redis,
    app,
    adminToken: admin.token,
    close() {
      closing ??= (async () => {
        await ctx.events.close();
        await catalog.health.stop();
        await app.close();
        await scheduler.stop?.();
        await redis.quit().catch(() => redis.disconnect());
      })();
      return closing;
    },
  };
}
