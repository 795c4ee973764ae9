/**
 * The catalog's two shapes and the one conversion between them: REST JSON (snake_case, as the
 * schemas take it and `GET` returns it) and proto (catalog.proto, as Connect, Redis and the route
 * watch carry it). Connect's messages are turned into REST bodies and validated by the same
 * schemas, so both surfaces accept exactly the same entries; `teictl` prints the REST shape.
 */
import { create } from "@bufbuild/protobuf";
import {
  type AliasTarget,
  AliasTargetSchema,
  type BackendHealth,
  BackendHealthStatus,
  type CatalogAlias,
  CatalogAliasSchema,
  type CatalogModel,
  CatalogModelSchema,
  type RemoteBackend,
  RemoteBackendKind,
  RemoteBackendSchema,
} from "@tei-fleet/proto/fleet/v1";
import type { AliasInput, BackendInput, ModelInput } from "./catalog-schemas.ts";

const iso = (ms: bigint) => (ms > 0n ? new Date(Number(ms)).toISOString() : null);

/** The proto alias an accepted body describes (revision and times are the store's). */
export function aliasFromInput(name: string, input: AliasInput): CatalogAlias {
  const targets = input.targets.map((t): AliasTarget => {
    const target: AliasTarget["target"] =
      t.model_id !== undefined
        ? { case: "modelId", value: t.model_id }
        : t.instance !== undefined
          ? { case: "instance", value: t.instance }
          : t.backend !== undefined
            ? { case: "backend", value: t.backend }
            : { case: "alias", value: t.alias! };
    return create(AliasTargetSchema, { target, weight: t.weight });
  });
  return create(CatalogAliasSchema, {
    name,
    targets,
    enabled: input.enabled,
    reason: input.enabled ? "" : input.reason,
    description: input.description,
    managedBy: input.managed_by,
  });
}

const TARGET_FIELD = { modelId: "model_id", instance: "instance", backend: "backend", alias: "alias" } as const;

/** An alias target in REST JSON. */
function targetJson(t: AliasTarget): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (t.target.case !== undefined) out[TARGET_FIELD[t.target.case]] = t.target.value;
  out.weight = t.weight;
  return out;
}

/**
 * A Connect alias as a REST body, for the REST rules. Proto3 cannot tell an unset weight from 0:
 * 0 means the default, 1. A target with no case stays empty, and is refused as such.
 */
export function aliasInputFromProto(alias: CatalogAlias): Record<string, unknown> {
  return {
    targets: alias.targets.map((t) => {
      const json = targetJson(t);
      if (t.weight === 0) delete json.weight;
      return json;
    }),
    ...(alias.enabled !== undefined ? { enabled: alias.enabled } : {}),
    reason: alias.reason,
    description: alias.description,
    managed_by: alias.managedBy,
  };
}

/** An alias as `GET /catalog/aliases/{name}` returns it. */
export function aliasToJson(alias: CatalogAlias): Record<string, unknown> {
  return {
    name: alias.name,
    targets: alias.targets.map(targetJson),
    enabled: alias.enabled !== false,
    reason: alias.reason,
    description: alias.description,
    managed_by: alias.managedBy,
    revision: Number(alias.revision),
    created_at: iso(alias.createdAtMs),
    updated_at: iso(alias.updatedAtMs),
  };
}

/** The proto model entry an accepted body describes. */
export function modelFromInput(modelId: string, input: ModelInput): CatalogModel {
  return create(CatalogModelSchema, {
    modelId,
    enabled: input.enabled,
    reason: input.enabled ? "" : input.reason,
    description: input.description,
    managedBy: input.managed_by,
  });
}

/** A Connect model entry as a REST body. */
export function modelInputFromProto(model: CatalogModel): Record<string, unknown> {
  return {
    ...(model.enabled !== undefined ? { enabled: model.enabled } : {}),
    reason: model.reason,
    description: model.description,
    managed_by: model.managedBy,
  };
}

/** A model entry as `GET /catalog/models/{id}` returns it. */
export function modelToJson(model: CatalogModel): Record<string, unknown> {
  return {
    model_id: model.modelId,
    enabled: model.enabled !== false,
    reason: model.reason,
    description: model.description,
    managed_by: model.managedBy,
    revision: Number(model.revision),
    created_at: iso(model.createdAtMs),
    updated_at: iso(model.updatedAtMs),
  };
}

const KIND_TO_PROTO = { tei: RemoteBackendKind.TEI, openai: RemoteBackendKind.OPENAI } as const;
const KIND_FROM_PROTO: Record<number, "tei" | "openai" | undefined> = { [RemoteBackendKind.TEI]: "tei", [RemoteBackendKind.OPENAI]: "openai" };
const HEALTH_NAMES: Record<number, string> = {
  [BackendHealthStatus.UNSPECIFIED]: "unknown",
  [BackendHealthStatus.UNKNOWN]: "unknown",
  [BackendHealthStatus.HEALTHY]: "healthy",
  [BackendHealthStatus.UNHEALTHY]: "unhealthy",
};

/** The proto backend an accepted body describes, without anything about its key (the store's). */
export function backendFromInput(name: string, input: BackendInput): RemoteBackend {
  return create(RemoteBackendSchema, {
    name,
    kind: KIND_TO_PROTO[input.kind],
    url: input.url,
    upstreamModel: input.upstream_model,
    enabled: input.enabled,
    reason: input.enabled ? "" : input.reason,
    timeoutMs: input.timeout_ms ?? 0,
    description: input.description,
    managedBy: input.managed_by,
  });
}

/**
 * A Connect backend (and PutBackendRequest's `api_key`) as a REST body: an unset key keeps the
 * stored one (absent), "" removes it (null), anything else replaces it. An unknown kind is left
 * out, to be refused by the schema as missing.
 */
export function backendInputFromProto(backend: RemoteBackend, apiKey: string | undefined): Record<string, unknown> {
  return {
    ...(KIND_FROM_PROTO[backend.kind] !== undefined ? { kind: KIND_FROM_PROTO[backend.kind] } : {}),
    url: backend.url,
    upstream_model: backend.upstreamModel,
    ...(apiKey === undefined ? {} : { api_key: apiKey === "" ? null : apiKey }),
    ...(backend.timeoutMs > 0 ? { timeout_ms: backend.timeoutMs } : {}),
    ...(backend.enabled !== undefined ? { enabled: backend.enabled } : {}),
    reason: backend.reason,
    description: backend.description,
    managed_by: backend.managedBy,
  };
}

/** A backend's health in REST JSON. */
export function healthToJson(health: BackendHealth | undefined): Record<string, unknown> {
  return {
    status: HEALTH_NAMES[health?.status ?? 0] ?? "unknown",
    since: iso(health?.sinceMs ?? 0n),
    error: health?.error ?? "",
  };
}

/** A backend as `GET /catalog/backends/{name}` returns it: `has_api_key` and a hint, never the key. */
export function backendToJson(backend: RemoteBackend): Record<string, unknown> {
  return {
    name: backend.name,
    kind: KIND_FROM_PROTO[backend.kind] ?? "unknown",
    url: backend.url,
    upstream_model: backend.upstreamModel,
    enabled: backend.enabled !== false,
    reason: backend.reason,
    timeout_ms: backend.timeoutMs > 0 ? backend.timeoutMs : null,
    has_api_key: backend.hasApiKey,
    api_key_hint: backend.apiKeyHint,
    health: healthToJson(backend.health),
    description: backend.description,
    managed_by: backend.managedBy,
    revision: Number(backend.revision),
    created_at: iso(backend.createdAtMs),
    updated_at: iso(backend.updatedAtMs),
  };
}

/** The hint shown for a stored key: its last 4 characters (none for a key too short to hide the rest). */
export function apiKeyHint(key: string): string {
  return key.length >= 16 ? `…${key.slice(-4)}` : "…";
}
