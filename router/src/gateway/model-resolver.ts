/**
 * Which replicas a model name means. One small interface, so the model catalog (aliases,
 * weighted targets, enable/disable, remote backends) replaces today's resolver without the
 * routes knowing: {@link RouteTableModelResolver} resolves a name as a model id, then as an
 * instance name, against the router's route table.
 */
import type { RouteTable } from "../routing/route-table.ts";
import type { Target } from "../tei/target.ts";
import { GatewayError } from "./gateway-error.ts";
import type { RemoteTarget } from "./remote-backend-target.ts";

/** A name resolved to where its calls go. */
export interface ResolvedModel {
  /** The name the client used (answers echo it as `model`). */
  readonly name: string;
  /** Where the calls go. */
  readonly target: Target;
  /** The model id served under the name, "" when not known yet (a model no ready replica serves). */
  readonly modelId: string;
  /** Replicas that may take its calls (ejected ones included); sizes a batch's parallelism. */
  readonly replicas: number;
  /**
   * What the admission steps see as the call's target when it is not `target`: the name the
   * client called (an alias, a remote backend), so that a key's allowed models and the per-model
   * queue go by that name. Default `target`.
   */
  readonly admissionTarget?: Target;
  /** Set when the name leads to a remote backend (model catalog): served over HTTP, not by TEI calls. */
  readonly remote?: RemoteTarget;
}

/** One entry of `GET /v1/models`. */
export interface ModelEntry {
  readonly id: string;
  readonly ownedBy: string;
}

/** Resolves names for the gateway. */
export interface ModelResolver {
  /**
   * The target of `name`: `by` "instance" takes it as an instance name only (`x-tei-instance`),
   * "any" as a model id (or, later, an alias) first, then as an instance name.
   */
  resolve(name: string, by: "any" | "instance"): ResolvedModel | GatewayError;
  /** The model a request that names none goes to: the only one served, else null. */
  soleModel(): ResolvedModel | null;
  /** What the fleet serves, for `GET /v1/models`. */
  list(): readonly ModelEntry[];
}

interface Counted {
  modelId: string;
  replicas: number;
}

/** Resolves against the route table (model ids and instance names); rebuilt when the table changes. */
export class RouteTableModelResolver implements ModelResolver {
  private readonly table: RouteTable;
  private stamp = -1;
  private version = -1n;
  private models = new Map<string, Counted>();
  private instances = new Map<string, Counted>();
  private entries: ModelEntry[] = [];
  private readonly resolvedCache = new Map<string, ResolvedModel>();

  constructor(table: RouteTable) {
    this.table = table;
  }

  private refresh(): void {
    const t = this.table;
    if (t.updatedAt === this.stamp && t.version === this.version) return;
    this.stamp = t.updatedAt;
    this.version = t.version;
    const models = new Map<string, Counted>();
    const instances = new Map<string, Counted>();
    for (const r of t.replicas()) {
      const m = models.get(r.modelId);
      if (m === undefined) models.set(r.modelId, { modelId: r.modelId, replicas: 1 });
      else m.replicas++;
      const i = instances.get(r.instanceName);
      if (i === undefined) instances.set(r.instanceName, { modelId: r.modelId, replicas: 1 });
      else i.replicas++;
    }
    this.models = models;
    this.instances = instances;
    this.entries = [...models.keys()].sort().map((id) => ({ id, ownedBy: "tei-fleet" }));
    this.resolvedCache.clear();
  }

  resolve(name: string, by: "any" | "instance"): ResolvedModel | GatewayError {
    if (name === "") return new GatewayError(400, "model: must not be empty", "Validation", "model");
    this.refresh();
    const key = by === "instance" ? `i\u0000${name}` : name;
    const hit = this.resolvedCache.get(key);
    if (hit !== undefined) return hit;
    let out: ResolvedModel;
    const m = by === "any" ? this.models.get(name) : undefined;
    const i = m === undefined ? this.instances.get(name) : undefined;
    if (m !== undefined) out = { name, target: { kind: "model", model: name }, modelId: m.modelId, replicas: m.replicas };
    else if (i !== undefined) out = { name, target: { kind: "instance", name }, modelId: i.modelId, replicas: i.replicas };
    // Unknown here: the route table says NOT_FOUND, or UNAVAILABLE for a model or instance it
    // lists without a ready replica (or before its first table), so the answer is its own.
    else return { name, target: by === "instance" ? { kind: "instance", name } : { kind: "model", model: name }, modelId: "", replicas: 1 };
    if (this.resolvedCache.size < 4096) this.resolvedCache.set(key, out);
    return out;
  }

  soleModel(): ResolvedModel | null {
    this.refresh();
    if (this.models.size !== 1) return null;
    const [id] = this.models.keys();
    const r = this.resolve(id as string, "any");
    return r instanceof GatewayError ? null : r;
  }

  list(): readonly ModelEntry[] {
    this.refresh();
    return this.entries;
  }
}
