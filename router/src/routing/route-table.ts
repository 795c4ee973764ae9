/**
 * The router's local copy of the route table (an informer cache in Kubernetes terms): every
 * ready TEI replica with its instance, model, node and address, indexed for the three ways a
 * call can be routed, and the instances that exist but have no ready replica (so a call for them
 * is UNAVAILABLE, not NOT_FOUND). A snapshot (the watch's first, a resync, a static file)
 * replaces it wholesale; a watch delta is applied in place, at a cost in proportion to the change:
 * only the groups of the instances and models it touches are rebuilt, the others stay the same
 * objects (their balancer state untouched). The router's own outlier detection marks replicas
 * ejected for a while without removing them.
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

/**
 * Changes applied in place by {@link RouteTable.applyChanges}: what one watch delta carries.
 * A route is identified by its assignment id, instance, replica number and address.
 */
export interface TableChanges {
  /** Routes gone. */
  readonly removed: readonly RouteInput[];
  /** Routes new or changed (a changed model or node makes a new replica). */
  readonly upserted: readonly RouteInput[];
  /** Instances no longer listed as unready. */
  readonly unreadyRemoved: readonly string[];
  /** Instances listed as unready, new or changed. */
  readonly unreadyUpserted: readonly UnreadyInput[];
}

/** What changed in a replace() or applyChanges(). */
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
  /** Replicas per backend address (a backend connection is kept while its address is in use). */
  private addresses = new Map<string, number>();
  private byInstance = new Map<string, ReplicaGroup>();
  private byModel = new Map<string, ReplicaGroup>();
  private sorted: Replica[] = [];
  /**
   * Instances listed as unready, as listed (first listing of a name wins). One with a ready
   * replica is ready whatever it says: the lookups below are only made for instances and models
   * without a group, and skip listed instances that have one.
   */
  private unreadyByInstance = new Map<string, UnreadyInput>();
  /** The same listings by model (insertion order: the order they were listed in). */
  private unreadyByModel = new Map<string, Map<string, UnreadyInput>>();

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
    this.addresses = new Map();
    for (const r of sorted) this.countAddress(r.address, 1);
    this.setUnready(unready);
    this.version = version;
    this.updatedAt = Date.now();
    return { added, removed };
  }

  private setUnready(unready: readonly UnreadyInput[]): void {
    this.unreadyByInstance = new Map();
    this.unreadyByModel = new Map();
    for (const u of unready) this.listUnready(u);
  }

  private listUnready(u: UnreadyInput): void {
    if (this.unreadyByInstance.has(u.instanceName)) return;
    this.unreadyByInstance.set(u.instanceName, u);
    if (u.modelId === "") return;
    let list = this.unreadyByModel.get(u.modelId);
    if (list === undefined) this.unreadyByModel.set(u.modelId, (list = new Map()));
    list.set(u.instanceName, u);
  }

  private unlistUnready(name: string): void {
    const u = this.unreadyByInstance.get(name);
    if (u === undefined) return;
    this.unreadyByInstance.delete(name);
    const list = this.unreadyByModel.get(u.modelId);
    if (list === undefined) return;
    list.delete(name);
    if (list.size === 0) this.unreadyByModel.delete(u.modelId);
  }

  /**
   * Applies a watch delta in place. Work is in proportion to the change (plus moving the index
   * list's tail): replicas untouched keep their state, and groups of instances and models the
   * change does not touch are kept as they are, the same objects.
   */
  applyChanges(changes: TableChanges, version: bigint): TableDiff {
    const added: Replica[] = [];
    const removed: Replica[] = [];
    const instances = new Set<string>();
    const models = new Set<string>();
    const drop = (key: string, r: Replica): void => {
      this.byKey.delete(key);
      this.countAddress(r.address, -1);
      this.unsort(r);
      removed.push(r);
      instances.add(r.instanceName);
      models.add(r.modelId);
    };
    // A route updated in place is removed and upserted by the same delta: only the upsert counts,
    // so that a replica whose model and node stay keeps its state (an ejection, its connection).
    const upserted = new Set(changes.upserted.map(replicaKey));
    for (const route of changes.removed) {
      const key = replicaKey(route);
      if (upserted.has(key)) continue;
      const r = this.byKey.get(key);
      if (r !== undefined) drop(key, r);
    }
    for (const route of changes.upserted) {
      const key = replicaKey(route);
      const old = this.byKey.get(key);
      if (old !== undefined && old.modelId === route.modelId && old.node === route.node) continue;
      if (old !== undefined) drop(key, old);
      const r = newReplica(route, old?.backend ?? null);
      this.byKey.set(key, r);
      this.countAddress(r.address, 1);
      this.insertSorted(r);
      added.push(r);
      instances.add(r.instanceName);
      models.add(r.modelId);
    }
    for (const name of instances) this.regroup(this.byInstance, name, added, (r) => r.instanceName === name);
    for (const model of models) this.regroup(this.byModel, model, added, (r) => r.modelId === model);
    for (const name of changes.unreadyRemoved) this.unlistUnready(name);
    for (const u of changes.unreadyUpserted) {
      this.unlistUnready(u.instanceName);
      this.listUnready(u);
    }
    this.version = version;
    this.updatedAt = Date.now();
    return { added, removed };
  }

  /** True while some replica of the table has this backend address. */
  usesAddress(address: string): boolean {
    return this.addresses.has(address);
  }

  private countAddress(address: string, delta: number): void {
    const n = (this.addresses.get(address) ?? 0) + delta;
    if (n > 0) this.addresses.set(address, n);
    else this.addresses.delete(address);
  }

  /** Rebuilds the one group `key` of `groups` from its surviving replicas and those added to it. */
  private regroup(groups: Map<string, ReplicaGroup>, key: string, added: readonly Replica[], belongs: (r: Replica) => boolean): void {
    const old = groups.get(key);
    const replicas = (old?.replicas ?? []).filter((r) => this.byKey.get(replicaKey(r)) === r);
    for (const r of added) if (belongs(r)) replicas.push(r);
    if (replicas.length === 0) {
      groups.delete(key);
      return;
    }
    replicas.sort(compareReplicas);
    groups.set(key, { replicas, cursor: (old?.cursor ?? 0) % replicas.length });
  }

  /** Where `r` goes in the index list (the first position not before it). */
  private lowerBound(r: Replica): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareReplicas(this.sorted[mid] as Replica, r) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private insertSorted(r: Replica): void {
    this.sorted.splice(this.lowerBound(r), 0, r);
  }

  private unsort(r: Replica): void {
    // Replicas that compare equal (same instance, number and assignment) sit together.
    for (let i = this.lowerBound(r); i < this.sorted.length; i++) {
      if (this.sorted[i] === r) {
        this.sorted.splice(i, 1);
        return;
      }
      if (compareReplicas(this.sorted[i] as Replica, r) !== 0) return;
    }
  }

  /** NOT_FOUND for an instance in neither list, UNAVAILABLE naming its status when it is only unready. */
  private missingInstance(name: string): RouterError {
    const u = this.unreadyByInstance.get(name);
    if (u === undefined) return new RouterError(GrpcStatus.NOT_FOUND, `instance "${name}" not found`);
    return new RouterError(GrpcStatus.UNAVAILABLE, `instance "${name}" has no ready replica (${u.reason || "not ready"})`);
  }

  /** NOT_FOUND for a model no instance serves, UNAVAILABLE naming its instances when none is ready. */
  private missingModel(model: string): RouterError {
    const list = [...(this.unreadyByModel.get(model)?.values() ?? [])].filter((u) => !this.byInstance.has(u.instanceName));
    if (list.length === 0) return new RouterError(GrpcStatus.NOT_FOUND, `no instance serves model "${model}"`);
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
