/**
 * The router's local copy of the route table (an informer cache in Kubernetes terms): every
 * ready TEI replica with its instance, model, node and address, indexed for the three ways a
 * call can be routed, and the instances that exist but have no ready replica (so a call for them
 * is UNAVAILABLE, not NOT_FOUND). The control plane (or a static file) replaces it wholesale; the
 * router's own outlier detection marks replicas ejected for a while without removing them.
 */
import type { Backend } from "./backend-pool.ts";
import { GrpcStatus, RouterError } from "./grpc-status.ts";
import type { Route, UnreadyInstance } from "@tei-fleet/proto/fleet/v1";
import type { MethodMetrics } from "./metrics.ts";
import { describeTarget, type Target } from "./target.ts";

/**
 * One route as the control plane (or a routes file) describes it: the fields of
 * tei_fleet.v1.Route (`address` is host:port of the replica's TEI gRPC server).
 */
export type RouteInput = Omit<Route, "$typeName" | "$unknown">;

/**
 * An instance that exists but has no ready replica (tei_fleet.v1.UnreadyInstance), with a short
 * reason such as "starting", "pending: insufficient GPU memory ..." or "stopped".
 */
export type UnreadyInput = Omit<UnreadyInstance, "$typeName" | "$unknown">;

/**
 * A routable TEI replica. The same object survives table updates that keep it, so its failure
 * count, ejection and cached metric children persist.
 */
export interface Replica extends Readonly<RouteInput> {
  /** Consecutive infrastructure failures (connection errors, UNAVAILABLE). */
  failures: number;
  /** Epoch ms until which the replica is ejected; 0 when it is not. */
  ejectedUntil: number;
  /** How many times it has been ejected since its last success (grows the ejection time). */
  ejections: number;
  /** The HTTP/2 connection holder, attached by the backend pool on first use. */
  backend: Backend | null;
  /** Metric children per method id, filled lazily by the metrics module. */
  metrics: (MethodMetrics | undefined)[];
}

interface Group {
  replicas: Replica[];
  /** Round-robin cursor. */
  next: number;
}

/** The status message of calls that arrive before the first route table. */
export const NO_TABLE_YET = "route table not yet received";

/** What changed in a replace(). */
export interface TableDiff {
  added: Replica[];
  removed: Replica[];
}

function replicaKey(r: RouteInput): string {
  return `${r.assignmentId}\u0000${r.instanceName}\u0000${r.replica}\u0000${r.address}`;
}

function compareReplicas(a: Replica, b: Replica): number {
  if (a.instanceName !== b.instanceName) return a.instanceName < b.instanceName ? -1 : 1;
  if (a.replica !== b.replica) return a.replica - b.replica;
  return a.assignmentId < b.assignmentId ? -1 : a.assignmentId > b.assignmentId ? 1 : 0;
}

/** True when the replica may take traffic now. */
function isReady(r: Replica): boolean {
  if (r.ejectedUntil === 0) return true;
  if (r.ejectedUntil > Date.now()) return false;
  r.ejectedUntil = 0; // the ejection has run out: back in rotation
  return true;
}

function pick(group: Group, exclude: Replica | null): Replica | null {
  const list = group.replicas;
  const n = list.length;
  for (let i = 0; i < n; i++) {
    const idx = (group.next + i) % n;
    const r = list[idx] as Replica;
    if (r !== exclude && isReady(r)) {
      group.next = (idx + 1) % n;
      return r;
    }
  }
  return null;
}

/**
 * The route table. Order of the index list (what `x-tei-index` / `Target.instance_index` count
 * into): ready replicas sorted by instance name, then replica number, then assignment id.
 */
export class RouteTable {
  /** Version of the table last applied (0 before the first). */
  version = 0n;
  /** Epoch ms of the last replace(); 0 before the first. */
  updatedAt = 0;
  private byKey = new Map<string, Replica>();
  private byInstance = new Map<string, Group>();
  private byModel = new Map<string, Group>();
  private sorted: Replica[] = [];
  private unreadyByInstance = new Map<string, UnreadyInput>();
  private unreadyByModel = new Map<string, UnreadyInput[]>();

  /** True once a table has been applied. */
  get loaded(): boolean {
    return this.updatedAt !== 0;
  }

  /** Number of replicas in the table (ejected ones included). */
  get size(): number {
    return this.sorted.length;
  }

  /** All replicas in index order (ejected ones included). */
  replicas(): readonly Replica[] {
    return this.sorted;
  }

  /**
   * Replaces the whole table; replicas present before and after keep their state. `unready` lists
   * instances that exist without a ready replica (an instance with a route is ready whatever it says).
   */
  replace(routes: readonly RouteInput[], version: bigint, unready: readonly UnreadyInput[] = []): TableDiff {
    const byKey = new Map<string, Replica>();
    const added: Replica[] = [];
    for (const route of routes) {
      const key = replicaKey(route);
      if (byKey.has(key)) continue;
      let r = this.byKey.get(key);
      if (r === undefined || r.modelId !== route.modelId || r.node !== route.node) {
        r = { ...route, failures: 0, ejectedUntil: 0, ejections: 0, backend: r?.backend ?? null, metrics: [] };
        added.push(r);
      }
      byKey.set(key, r);
    }
    const removed: Replica[] = [];
    for (const [key, r] of this.byKey) if (byKey.get(key) !== r) removed.push(r);
    const sorted = [...byKey.values()].sort(compareReplicas);
    this.byInstance = this.group(sorted, (r) => r.instanceName, this.byInstance);
    this.byModel = this.group(sorted, (r) => r.modelId, this.byModel);
    this.byKey = byKey;
    this.sorted = sorted;
    this.setUnready(unready);
    this.version = version;
    this.updatedAt = Date.now();
    return { added, removed };
  }

  private setUnready(unready: readonly UnreadyInput[]): void {
    const byInstance = new Map<string, UnreadyInput>();
    const byModel = new Map<string, UnreadyInput[]>();
    for (const u of unready) {
      if (this.byInstance.has(u.instanceName) || byInstance.has(u.instanceName)) continue;
      byInstance.set(u.instanceName, u);
      if (u.modelId === "" || this.byModel.has(u.modelId)) continue;
      const list = byModel.get(u.modelId);
      if (list === undefined) byModel.set(u.modelId, [u]);
      else list.push(u);
    }
    this.unreadyByInstance = byInstance;
    this.unreadyByModel = byModel;
  }

  /** NOT_FOUND for an instance in neither list, UNAVAILABLE naming its status when it is only unready. */
  private missingInstance(name: string): RouterError {
    const u = this.unreadyByInstance.get(name);
    if (u === undefined) return new RouterError(GrpcStatus.NOT_FOUND, `instance "${name}" not found`);
    return new RouterError(GrpcStatus.UNAVAILABLE, `instance "${name}" has no ready replica (${u.reason || "not ready"})`);
  }

  /** NOT_FOUND for a model no instance serves, UNAVAILABLE naming its instances when none is ready. */
  private missingModel(model: string): RouterError {
    const list = this.unreadyByModel.get(model);
    if (list === undefined) return new RouterError(GrpcStatus.NOT_FOUND, `no instance serves model "${model}"`);
    const shown = list.slice(0, 3).map((u) => `"${u.instanceName}" (${u.reason || "not ready"})`).join(", ");
    const more = list.length > 3 ? ` and ${list.length - 3} more` : "";
    return new RouterError(GrpcStatus.UNAVAILABLE, `no ready instance of model "${model}": ${shown}${more}`);
  }

  /** Builds groups, keeping the round-robin cursor of groups that survive. */
  private group(sorted: Replica[], key: (r: Replica) => string, old: Map<string, Group>): Map<string, Group> {
    const groups = new Map<string, Group>();
    for (const r of sorted) {
      const k = key(r);
      let g = groups.get(k);
      if (g === undefined) {
        g = { replicas: [], next: old.get(k)?.next ?? 0 };
        groups.set(k, g);
      }
      g.replicas.push(r);
    }
    for (const g of groups.values()) g.next %= g.replicas.length;
    return groups;
  }

  /**
   * Chooses the replica for a call: round-robin over ready replicas of the instance or model,
   * or the ready replica at the index.
   * @throws RouterError NOT_FOUND for an unknown instance or model or an index past the end,
   *   UNAVAILABLE when the instance or model exists but has no ready replica (listed as unready by
   *   the control plane, or every replica ejected), and for every target before the first table
   */
  resolve(target: Target): Replica {
    // Without a table nothing can be said to be missing: NOT_FOUND would tell clients not to
    // retry a call that another router (or this one in a moment) can serve.
    if (this.updatedAt === 0) throw new RouterError(GrpcStatus.UNAVAILABLE, NO_TABLE_YET);
    let group: Group | undefined;
    switch (target.kind) {
      case "instance":
        group = this.byInstance.get(target.name);
        if (group === undefined) throw this.missingInstance(target.name);
        break;
      case "model":
        group = this.byModel.get(target.model);
        if (group === undefined) throw this.missingModel(target.model);
        break;
      case "index":
        return this.atIndex(target);
    }
    const r = pick(group, null);
    if (r === null) {
      throw new RouterError(
        GrpcStatus.UNAVAILABLE,
        `no ready replica for ${describeTarget(target)}: all ${group.replicas.length} ejected after repeated failures`,
      );
    }
    return r;
  }

  private atIndex(target: Extract<Target, { kind: "index" }>): Replica {
    let list: readonly Replica[] = this.sorted;
    if (target.model !== undefined) {
      const g = this.byModel.get(target.model);
      if (g === undefined) throw this.missingModel(target.model);
      list = g.replicas;
    }
    let seen = 0;
    for (const r of list) {
      if (!isReady(r)) continue;
      if (seen === target.index) return r;
      seen++;
    }
    throw new RouterError(GrpcStatus.NOT_FOUND, `no ready replica at ${describeTarget(target)} (${seen} ready)`);
  }

  /**
   * Another ready replica for a retry after `failed` failed: first another replica of the same
   * instance when the call named one, otherwise (or then) any other replica of the same model.
   */
  alternative(failed: Replica, target: Target): Replica | null {
    if (target.kind === "instance") {
      const g = this.byInstance.get(failed.instanceName);
      const r = g === undefined ? null : pick(g, failed);
      if (r !== null) return r;
    }
    const g = this.byModel.get(failed.modelId);
    return g === undefined ? null : pick(g, failed);
  }
}
