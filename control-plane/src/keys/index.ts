import type { Redis } from "ioredis";
import type { KeySchema } from "../store/keys.ts";
import { type ApiKeyService, createApiKeyService } from "./api-key-service.ts";
import { createKeyStore } from "./key-store.ts";

export type { ApiKeyService, IssuedKey } from "./api-key-service.ts";
export { keyConnectRoutes } from "./key-connect.ts";
export { keyRestPlugin } from "./key-rest.ts";

/**
 * API keys for the data path (api_key.proto), kept by the control plane: records for operators,
 * hashes and limits for routers (delivered in the route watch, collection `apiKey`). REST
 * (key-rest.ts) and Connect (key-connect.ts) are thin adapters over the service.
 */
export function createApiKeys(redis: Redis, keys: KeySchema): ApiKeyService {
  return createApiKeyService(createKeyStore(redis, keys));
}
