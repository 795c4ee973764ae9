/**
 * API keys in their two shapes, REST JSON and api_key.proto, and the conversion between them:
 * Connect's messages become REST bodies checked by the same schema, and `teictl` prints the REST
 * shape. Neither shape has a place for the key or its hash: those are only in the creation
 * answer and in RouterApiKey.
 */
import { create } from "@bufbuild/protobuf";
import { type ApiKey, ApiKeyLimitsSchema, ApiKeySchema } from "@tei-fleet/proto/fleet/v1";
import type { ApiKeyInput } from "./api-key-schemas.ts";

const iso = (ms: bigint) => (ms > 0n ? new Date(Number(ms)).toISOString() : null);

/** The settings part of a record from an accepted body (id, prefix, revision and times are the server's). */
export function keySettingsFromInput(input: ApiKeyInput): Pick<ApiKey, "name" | "owner" | "models" | "limits" | "expiresAtMs" | "managedBy" | "weight"> {
  return {
    name: input.name,
    owner: input.owner,
    models: [...new Set(input.models)],
    limits: create(ApiKeyLimitsSchema, {
      requestsPerSecond: input.limits.requests_per_second,
      burst: input.limits.burst,
      tokensPerMinute: input.limits.tokens_per_minute,
    }),
    expiresAtMs: input.expires_at ? BigInt(Date.parse(input.expires_at)) : 0n,
    managedBy: input.managed_by,
    weight: input.weight,
  };
}

/** A Connect key as a REST body. Unset limits (0) take the defaults. */
export function keyInputFromProto(key: ApiKey): Record<string, unknown> {
  const limits: Record<string, number> = {};
  if (key.limits?.requestsPerSecond) limits.requests_per_second = key.limits.requestsPerSecond;
  if (key.limits?.burst) limits.burst = key.limits.burst;
  if (key.limits?.tokensPerMinute) limits.tokens_per_minute = key.limits.tokensPerMinute;
  return {
    name: key.name,
    owner: key.owner,
    models: key.models,
    limits,
    ...(key.weight > 0 ? { weight: key.weight } : {}),
    ...(key.expiresAtMs > 0n ? { expires_at: new Date(Number(key.expiresAtMs)).toISOString() } : {}),
    managed_by: key.managedBy,
  };
}

/** A key as `GET /keys/{id}` returns it. */
export function keyToJson(key: ApiKey, now = Date.now()): Record<string, unknown> {
  return {
    id: key.id,
    name: key.name,
    owner: key.owner,
    models: key.models,
    limits: {
      requests_per_second: key.limits?.requestsPerSecond ?? 0,
      burst: key.limits?.burst ?? 0,
      tokens_per_minute: key.limits?.tokensPerMinute ?? 0,
    },
    weight: key.weight || 1,
    expires_at: iso(key.expiresAtMs),
    // Derived, for operators: routers refuse an expired key by its expires_at themselves.
    expired: key.expiresAtMs > 0n && key.expiresAtMs <= BigInt(now),
    prefix: key.prefix,
    revoked: key.revokedAtMs > 0n,
    revoked_at: iso(key.revokedAtMs),
    managed_by: key.managedBy,
    revision: Number(key.revision),
    created_at: iso(key.createdAtMs),
    updated_at: iso(key.updatedAtMs),
    rotated_at: iso(key.rotatedAtMs),
  };
}

/** An empty record with these settings, for the service to stamp. */
export const newKeyRecord = (id: string, settings: ReturnType<typeof keySettingsFromInput>) => create(ApiKeySchema, { id, ...settings });
