import type { SecretsKeyring } from "@tei-fleet/core/secrets";
import type { CatalogAliasSchema, CatalogBackendSchema, CatalogModelSchema } from "@tei-fleet/proto/fleet/v1";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { KeySchema } from "../store/keys.ts";
import { type AliasCatalog, createAliasCatalog } from "./alias-catalog.ts";
import { type BackendCatalog, createBackendCatalog } from "./backend-catalog.ts";
import { type BackendHealthChecker, createBackendHealth } from "./backend-health.ts";
import { createCatalogStore } from "./catalog-store.ts";
import { catalogCollections } from "./collections/catalog-collections.ts";
import { createModelCatalog, type ModelCatalog } from "./model-catalog.ts";

/** Options of {@link createCatalog}. */
export interface CatalogOptions {
  redis: Redis;
  keys: KeySchema;
  logger: Logger;
  /** Time between two health-probe rounds of remote backends, ms; 0 turns probing off. Default 15 000. */
  probeIntervalMs?: number;
  /** Timeout of one probe, ms. Default 3000. */
  probeTimeoutMs?: number;
  /** The fleet's secrets keys (TEI_FLEET_SECRETS_KEY, _PREVIOUS): upstream API keys are stored sealed with the current one. Unset: in plaintext. */
  secrets?: SecretsKeyring;
}

/**
 * The model catalog the control plane keeps (catalog.proto): aliases, model switches and remote
 * backends in Redis, each write one atomic script that also logs it in the route table's change
 * log (so routers get it in their route watch, as a delta) and appends a fleet event. REST
 * (catalog-rest.ts) and Connect (catalog-connect.ts) are thin adapters over these.
 */
export interface Catalog {
  aliases: AliasCatalog;
  models: ModelCatalog;
  backends: BackendCatalog;
  health: BackendHealthChecker;
}

/** Creates the catalog (the prober starts with `health.start()`). */
export function createCatalog(options: CatalogOptions): Catalog {
  const { redis, keys } = options;
  const collections = catalogCollections(keys);
  const backends = createBackendCatalog(createCatalogStore<typeof CatalogBackendSchema>(redis, keys, collections.backend), options.secrets);
  return {
    aliases: createAliasCatalog(redis, keys, createCatalogStore<typeof CatalogAliasSchema>(redis, keys, collections.alias)),
    models: createModelCatalog(createCatalogStore<typeof CatalogModelSchema>(redis, keys, collections.model)),
    backends,
    health: createBackendHealth({
      redis,
      keys,
      backends,
      secrets: options.secrets,
      logger: options.logger.child({ component: "backend-health" }),
      intervalMs: options.probeIntervalMs,
      timeoutMs: options.probeTimeoutMs,
    }),
  };
}
