/**
 * The router's copy of the model catalog (catalog.proto): aliases, model switches and remote
 * backends, fed from the route watch's collections `catalog_alias`, `catalog_model` and
 * `catalog_backend` (catalog-feed.ts) entry by entry, replaced whole on a snapshot. Remote
 * backends are kept as the gateway calls them ({@link RemoteTarget}), their router-side health
 * surviving an update of their entry. Nothing here logs: a backend entry holds its upstream key.
 */
import { upstreamKeyOf } from "@tei-fleet/core/catalog";
import type { SecretsKeyring } from "@tei-fleet/core/secrets";
import { type AliasTarget, BackendHealthStatus, type CatalogAlias, type CatalogBackend, type CatalogModel, RemoteBackendKind } from "@tei-fleet/proto/fleet/v1";
import { RemoteHealth, type RemoteTarget } from "../gateway/remote-backend-target.ts";

/** A remote backend's per-call timeout when its entry sets none. */
export const DEFAULT_REMOTE_TIMEOUT_MS = 30_000;

/** A remote backend of the catalog, with what the resolver needs beside its target. */
export interface CatalogRemote {
  readonly target: RemoteTarget;
  /** Unset in the entry means enabled. */
  readonly enabled: boolean;
  readonly reason: string;
}

/** The catalog as the router holds it. */
export class CatalogView {
  private readonly aliases = new Map<string, CatalogAlias>();
  private readonly models = new Map<string, CatalogModel>();
  private readonly backends = new Map<string, CatalogRemote>();
  /** Bumped on every change, so that derived state (the model list) can tell it is stale. */
  version = 0;
  private readonly secrets: SecretsKeyring | undefined;

  /** @param secrets - opens backends' sealed upstream keys (TEI_FLEET_SECRETS_KEY, _PREVIOUS) */
  constructor(secrets?: SecretsKeyring) {
    this.secrets = secrets;
  }

  /** The alias named `name`. */
  alias(name: string): CatalogAlias | undefined {
    return this.aliases.get(name);
  }

  /** The switch of model id `id` (none: enabled). */
  model(id: string): CatalogModel | undefined {
    return this.models.get(id);
  }

  /** The remote backend named `name`. */
  backend(name: string): CatalogRemote | undefined {
    return this.backends.get(name);
  }

  /** True when model id `id` is switched off. */
  modelDisabled(id: string): boolean {
    return this.models.get(id)?.enabled === false;
  }

  /** Every alias. */
  allAliases(): IterableIterator<CatalogAlias> {
    return this.aliases.values();
  }

  /** Every remote backend. */
  allBackends(): IterableIterator<CatalogRemote> {
    return this.backends.values();
  }

  /** Entries held, per collection. */
  get sizes(): { aliases: number; models: number; backends: number } {
    return { aliases: this.aliases.size, models: this.models.size, backends: this.backends.size };
  }

  /** A snapshot: the view holds exactly these afterwards. */
  replace(aliases: Iterable<CatalogAlias>, models: Iterable<CatalogModel>, backends: Iterable<CatalogBackend>): void {
    const held = new Map(this.backends);
    this.aliases.clear();
    this.models.clear();
    this.backends.clear();
    for (const a of aliases) this.aliases.set(a.name, a);
    for (const m of models) this.models.set(m.modelId, m);
    for (const b of backends) {
      const name = b.backend?.name ?? "";
      if (name !== "") this.backends.set(name, remoteOf(b, held.get(name)?.target.health, this.secrets));
    }
    this.version++;
  }

  putAlias(a: CatalogAlias): void {
    this.aliases.set(a.name, a);
    this.version++;
  }

  removeAlias(name: string): void {
    if (this.aliases.delete(name)) this.version++;
  }

  putModel(m: CatalogModel): void {
    this.models.set(m.modelId, m);
    this.version++;
  }

  removeModel(id: string): void {
    if (this.models.delete(id)) this.version++;
  }

  putBackend(b: CatalogBackend): void {
    const name = b.backend?.name ?? "";
    if (name === "") return;
    this.backends.set(name, remoteOf(b, this.backends.get(name)?.target.health, this.secrets));
    this.version++;
  }

  removeBackend(name: string): void {
    if (this.backends.delete(name)) this.version++;
  }
}

/**
 * A watched backend entry as the gateway calls it (keeping the router's health of it, if any),
 * its upstream key opened with `secrets` when it came sealed.
 */
export function remoteOf(b: CatalogBackend, health: RemoteHealth = new RemoteHealth(), secrets?: SecretsKeyring): CatalogRemote {
  const r = b.backend;
  health.catalogHealthy = r?.health?.status !== BackendHealthStatus.UNHEALTHY;
  const key = upstreamKeyOf(b, secrets);
  return {
    target: {
      name: r?.name ?? "",
      kind: r?.kind === RemoteBackendKind.TEI ? "tei" : "openai",
      url: (r?.url ?? "").replace(/\/+$/, ""),
      upstreamModel: r?.upstreamModel ?? "",
      apiKey: key.key,
      keyProblem: key.problem,
      timeoutMs: r !== undefined && r.timeoutMs > 0 ? r.timeoutMs : DEFAULT_REMOTE_TIMEOUT_MS,
      health,
    },
    enabled: r?.enabled !== false,
    reason: r?.reason ?? "",
  };
}

/** The weight of an alias target (0 reads as 1: the schema requires 1 or more). */
export function weightOf(t: AliasTarget): number {
  return t.weight > 0 ? t.weight : 1;
}
