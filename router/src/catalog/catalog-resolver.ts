/**
 * The gateway's {@link ModelResolver} with the model catalog in front of the route table's:
 *
 * 1. an alias (enabled) picks one of its weighted targets by smooth weighted round-robin
 *    (smooth-weighted.ts), preferring targets that are not disabled and remote backends that are
 *    not down; a target that is an alias is resolved the same way, at most 4 alias steps;
 * 2. a remote backend's name leads to the backend (served over HTTP: remote-backend.ts);
 * 3. anything else is a model id or an instance name, resolved by the route table's resolver,
 *    so that a model id served by instances is callable without a catalog entry.
 *
 * A disabled alias, backend or model (a model's instances included) is refused at once with 503
 * `model_disabled` and the catalog's reason, while its instances keep running; a name that leads
 * nowhere is answered 404 by the route table, as without a catalog. `GET /v1/models` lists the
 * enabled aliases and backends and the served model ids that are not disabled.
 */
import type { AliasTarget } from "@tei-fleet/proto/fleet/v1";
import { GatewayError, modelNotFound } from "../gateway/gateway-error.ts";
import type { ModelEntry, ModelResolver, ResolvedModel } from "../gateway/model-resolver.ts";
import type { CatalogRemote, CatalogView } from "./catalog-view.ts";
import { weightOf } from "./catalog-view.ts";
import { SmoothWeighted } from "./smooth-weighted.ts";

/** Alias steps a name may take before it reaches a model, an instance or a backend (the catalog's own bound). */
export const MAX_ALIAS_STEPS = 4;

/** The refusal of a switched-off name. */
export function modelDisabled(what: "alias" | "model" | "backend", name: string, reason: string): GatewayError {
  return new GatewayError(503, `${what} "${name}" is disabled${reason === "" ? "" : `: ${reason}`}`, "Unhealthy", "model", "model_disabled");
}

interface Picker {
  /** The alias entry the scores belong to (a new entry starts them again). */
  readonly entry: unknown;
  readonly wrr: SmoothWeighted;
}

/** Resolves names through the catalog, then the route table. */
export class CatalogModelResolver implements ModelResolver {
  private readonly catalog: CatalogView;
  private readonly fallback: ModelResolver;
  private readonly pickers = new Map<string, Picker>();
  private listed: { catalog: number; base: readonly ModelEntry[]; entries: readonly ModelEntry[] } | null = null;

  /** `fallback` resolves model ids and instance names (the route table's resolver). */
  constructor(catalog: CatalogView, fallback: ModelResolver) {
    this.catalog = catalog;
    this.fallback = fallback;
  }

  resolve(name: string, by: "any" | "instance"): ResolvedModel | GatewayError {
    if (name === "" || by === "instance") return this.checked(this.fallback.resolve(name, by));
    return this.byName(name, name, 0);
  }

  soleModel(): ResolvedModel | null {
    const sole = this.fallback.soleModel();
    if (sole === null || this.catalog.modelDisabled(sole.modelId)) return null;
    return sole;
  }

  list(): readonly ModelEntry[] {
    const base = this.fallback.list();
    const l = this.listed;
    if (l !== null && l.catalog === this.catalog.version && l.base === base) return l.entries;
    const byId = new Map<string, ModelEntry>();
    for (const m of base) if (!this.catalog.modelDisabled(m.id)) byId.set(m.id, m);
    for (const a of this.catalog.allAliases()) if (a.enabled !== false) byId.set(a.name, { id: a.name, ownedBy: "tei-fleet" });
    for (const b of this.catalog.allBackends()) if (b.enabled) byId.set(b.target.name, { id: b.target.name, ownedBy: `remote:${b.target.kind}` });
    const entries = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.listed = { catalog: this.catalog.version, base, entries };
    return entries;
  }

  /** `name` (an alias, a backend, a model id or an instance), reached from what the client `asked`. */
  private byName(asked: string, name: string, steps: number): ResolvedModel | GatewayError {
    const alias = this.catalog.alias(name);
    if (alias !== undefined) {
      if (alias.enabled === false) return modelDisabled("alias", name, alias.reason);
      if (steps >= MAX_ALIAS_STEPS) return modelNotFound(`alias "${asked}" takes more than ${MAX_ALIAS_STEPS} alias steps`);
      if (alias.targets.length === 0) return modelNotFound(`alias "${name}" has no targets`);
      const t = this.pick(name, alias.targets, alias);
      return this.byTarget(asked, t, steps + 1);
    }
    const backend = this.catalog.backend(name);
    if (backend !== undefined) return this.remote(asked, backend);
    return this.modelOrInstance(asked, name);
  }

  private byTarget(asked: string, t: AliasTarget, steps: number): ResolvedModel | GatewayError {
    const x = t.target;
    switch (x.case) {
      case "modelId": {
        if (this.catalog.modelDisabled(x.value)) return modelDisabled("model", x.value, this.catalog.model(x.value)?.reason ?? "");
        return this.named(asked, this.checked(this.fallback.resolve(x.value, "any")));
      }
      case "instance":
        return this.named(asked, this.checked(this.fallback.resolve(x.value, "instance")));
      case "backend": {
        const b = this.catalog.backend(x.value);
        return b === undefined ? modelNotFound(`alias "${asked}" leads to the remote backend "${x.value}", which is not registered`) : this.remote(asked, b);
      }
      case "alias":
        return this.byName(asked, x.value, steps);
      default:
        return modelNotFound(`alias "${asked}" has a target this router does not know`);
    }
  }

  /** A model id or instance name through the route table, with its model's switch. */
  private modelOrInstance(asked: string, name: string): ResolvedModel | GatewayError {
    const m = this.catalog.model(name);
    if (m?.enabled === false) return modelDisabled("model", name, m.reason);
    return this.named(asked, this.checked(this.fallback.resolve(name, "any")));
  }

  /** Refuses a resolution whose model is switched off. */
  private checked(r: ResolvedModel | GatewayError): ResolvedModel | GatewayError {
    if (r instanceof GatewayError || r.modelId === "" || !this.catalog.modelDisabled(r.modelId)) return r;
    return modelDisabled("model", r.modelId, this.catalog.model(r.modelId)?.reason ?? "");
  }

  /** `r` under the name the client asked, for the answer's `model` and for admission. */
  private named(asked: string, r: ResolvedModel | GatewayError): ResolvedModel | GatewayError {
    if (r instanceof GatewayError || r.name === asked) return r;
    return { ...r, name: asked, admissionTarget: { kind: "model", model: asked } };
  }

  private remote(asked: string, b: CatalogRemote): ResolvedModel | GatewayError {
    if (!b.enabled) return modelDisabled("backend", b.target.name, b.reason);
    // modelId: what the backend serves (its upstream model, else the name), for the answer's
    // x-tei-model and the gateway's metrics; never looked up in the route table.
    return {
      name: asked,
      target: { kind: "model", model: asked },
      modelId: b.target.upstreamModel || b.target.name,
      replicas: 1,
      admissionTarget: { kind: "model", model: asked },
      remote: b.target,
    };
  }

  /** The next target of alias `name`: among those neither disabled nor down when there are any. */
  private pick(name: string, targets: readonly AliasTarget[], entry: unknown): AliasTarget {
    let p = this.pickers.get(name);
    if (p === undefined || p.entry !== entry) {
      p = { entry, wrr: new SmoothWeighted(targets.map(weightOf)) };
      this.pickers.set(name, p);
      if (this.pickers.size > 65_536) this.prune();
    }
    const now = Date.now();
    let i = p.wrr.pick((k) => this.usable(targets[k] as AliasTarget, now));
    if (i < 0) i = p.wrr.pick();
    return targets[i] as AliasTarget;
  }

  /** False for a target switched off, or a remote backend that is down (a hint: used when nothing else is). */
  private usable(t: AliasTarget, now: number): boolean {
    const x = t.target;
    switch (x.case) {
      case "modelId":
        return !this.catalog.modelDisabled(x.value);
      case "alias":
        return this.catalog.alias(x.value)?.enabled !== false;
      case "backend": {
        const b = this.catalog.backend(x.value);
        return b?.enabled === true && !b.target.health.down(now);
      }
      case "instance": {
        const r = this.fallback.resolve(x.value, "instance");
        return r instanceof GatewayError || r.modelId === "" || !this.catalog.modelDisabled(r.modelId);
      }
      default:
        return false;
    }
  }

  /** Forgets the scores of aliases that are gone. */
  private prune(): void {
    for (const name of this.pickers.keys()) if (this.catalog.alias(name) === undefined) this.pickers.delete(name);
  }
}
