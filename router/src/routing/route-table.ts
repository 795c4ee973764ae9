/**
 * The router's local copy of the route table (an informer cache in Kubernetes terms): every
 * ready TEI replica with its instance, model, node and address, indexed for the three ways a
 * call can be routed, and the instances that exist but have no ready replica (so a call for them
 * is UNAVAILABLE, not NOT_FOUND). The control plane (or a static file) replaces it wholesale; the
 * router's own outlier detection marks replicas ejected for a while without removing them.
 * Which replica of a group takes a call is the {@link Balancer}'s choice (round-robin by default).
 */
import type { UnreadyInstance } from "@tei-fleet/proto/fleet/v1";
import { GrpcStatus, RouterError } from "../grpc/grpc-status.ts";
import { describeTarget, type Target } from "../tei/target.ts";
import type { Balancer, ReplicaGroup } from "./balancer.ts";
import { isReady, newReplica, type Replica, type RouteInput } from "./replica.ts";
import { RoundRobinBalancer } from "./round-robin-balancer.ts";

/**
 * An instance that exists but has no ready replica (tei_fleet.v1.UnreadyInstance), with a short
 * reason such as "starting", "pending: insufficient GPU memory ..." or "stopped".
 */
export type UnreadyInput = Omit<UnreadyInstance, "$typeName" | "$unknown">;

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

/**
 * The route table. Order of the index list (what `x-tei-index` / `Target.instance_index` count
 * into): ready replicas sorted by instance name, then replica number, then assignment id.
 */
export class RouteTable {
  /** Picks a replica within an instance's or a model's group; attempts report their calls to it. */
  readonly balancer: Balancer;
  /** Version of the table last applied (0 before the first). */
  version = 0n;
  /** Epoch ms of the last replace(); 0 before the first. */
  updatedAt = 0;
  private byKey = new Map<string, Replica>();
  private byInstance = new Map<string, ReplicaGroup>();
  private byModel = new Map<string, ReplicaGroup>();
  private sorted: Replica[] = [];
  private unreadyByInstance = new Map<string, UnreadyInput>();
  private unreadyByModel = new Map<string, UnreadyInput[]>();

  /** @param balancer - how a call's replica is picked in its group; default round-robin */
  constructor(balancer: Balancer = new RoundRobinBalancer()) {
    this.balancer = balancer;
  }

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
        r = newReplica(route, r?.backend ?? null);
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
    const shown = list
      .slice(0, 3)
      .map((u) => `"${u.instanceName}" (${u.reason || "not ready"})`)
      .join(", ");
    const more = list.length > 3 ? ` and ${list.length - 3} more` : "";
    return new RouterError(GrpcStatus.UNAVAILABLE, `no ready instance of model "${model}": ${shown}${more}`);
  }

  /** Builds groups, keeping the balancer's cursor of groups that survive. */
  private group(sorted: Replica[], key: (r: Replica) => string, old: Map<string, ReplicaGroup>): Map<string, ReplicaGroup> {
    const groups = new Map<string, { replicas: Replica[]; cursor: number }>();
    for (const r of sorted) {
      const k = key(r);
      let g = groups.get(k);
      if (g === undefined) {
        g = { replicas: [], cursor: old.get(k)?.cursor ?? 0 };
        groups.set(k, g);
      }
      g.replicas.push(r);
    }
    for (const g of groups.values()) g.cursor %= g.replicas.length;
    return groups;
  }

  /**
   * Chooses the replica for a call: the balancer's pick among the ready replicas of the instance
   * or model, or the ready replica at the index.
   * @throws RouterError NOT_FOUND for an unknown instance or model or an index past the end,
   *   UNAVAILABLE when the instance or model exists but has no ready replica (listed as unready by
   *   the control plane, or every replica ejected), and for every target before the first table
   */
  resolve(target: Target): Replica {
    // Without a table nothing can be said to be missing: NOT_FOUND would tell clients not to
    // retry a call that another router (or this one in a moment) can serve.
    if (this.updatedAt === 0) throw new RouterError(GrpcStatus.UNAVAILABLE, NO_TABLE_YET);
    let group: ReplicaGroup | undefined;
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
    const r = this.balancer.pick(group, null);
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
      const r = g === undefined ? null : this.balancer.pick(g, failed);
      if (r !== null) return r;
    }
    const g = this.byModel.get(failed.modelId);
    return g === undefined ? null : this.balancer.pick(g, failed);
  }
}
