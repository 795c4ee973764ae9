import { isFailingStatus, statusOf } from "@tei-fleet/core";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import { wantsRunning } from "./placement-request.ts";

/** Loosely typed JSON of the records the full compare reads (plain JSON.parse: it reads thousands). */
interface InstanceJson {
  revision?: string;
  spec?: { replicas?: number; desiredState?: string };
}
interface ReplicaJson {
  index?: number;
  revision?: string;
  node?: string;
  status?: string;
}

/** What a full compare found. */
export interface ConvergenceReport {
  instances: number;
  /** Instances whose replicas differ from their spec: enqueue them. */
  diverged: string[];
  /** Instance names found only in assignments or replica records (deleted while something ran). */
  orphans: string[];
  /** Assignments no replica record accounts for: nothing would ever release them otherwise. */
  orphanAssignments: Array<{ id: string; node: string; instance: string }>;
  /** Route entries whose assignment no longer exists anywhere. */
  staleRoutes: string[];
  /** Instances with a pending replica (the pending set must hold them, for the capacity triggers). */
  pending: string[];
  /** Instances with a current replica failed or in crash_loop (candidates for rescheduling). */
  failing: string[];
}

const CHUNK = 500;

/** An instance record as loose JSON, or undefined when it is not a JSON object. */
function parseLoosely(json: string): InstanceJson | undefined {
  try {
    const value: unknown = JSON.parse(json);
    return value !== null && typeof value === "object" ? (value as InstanceJson) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The level-triggered full compare: every desired instance against its replica records and every
 * node's assignments. It decides nothing itself; it lists what the instance reconciler should look
 * at, so a lost job, event or nudge never leaves the fleet wrong for longer than one interval.
 * Pending instances are left to the capacity triggers and the pending retry.
 */
export async function compareDesiredAndObserved(ctx: SchedulerContext): Promise<ConvergenceReport> {
  const { redis, keys } = ctx;
  const names = await redis.zrange(keys.instances(), 0, -1);
  const nodeNames = await redis.zrange(keys.nodes(), 0, -1);

  // Every assignment in the fleet, and which nodes are ready.
  const assigned = new Map<string, string>(); // assignment id -> instance
  const assignedOn = new Map<string, string>(); // assignment id -> node
  const readyNodes = new Set<string>();
  for (let i = 0; i < nodeNames.length; i += CHUNK) {
    const chunk = nodeNames.slice(i, i + CHUNK);
    const pipe = redis.pipeline();
    for (const n of chunk) {
      pipe.get(keys.node(n));
      pipe.hgetall(keys.assignments(n));
    }
    const results = (await pipe.exec()) ?? [];
    chunk.forEach((n, j) => {
      const json = results[j * 2]?.[1] as string | null;
      if (json && (JSON.parse(json) as { state?: string }).state === "ready") readyNodes.add(n);
      const hash = (results[j * 2 + 1]?.[1] ?? {}) as Record<string, string>;
      for (const [id, a] of Object.entries(hash)) {
        assigned.set(id, (JSON.parse(a) as { instanceName: string }).instanceName);
        assignedOn.set(id, n);
      }
    });
  }

  const diverged: string[] = [];
  const pending: string[] = [];
  const failing: string[] = [];
  const known = new Set(names);
  const recorded = new Set<string>();
  for (let i = 0; i < names.length; i += CHUNK) {
    const chunk = names.slice(i, i + CHUNK);
    const pipe = redis.pipeline();
    for (const n of chunk) {
      pipe.get(keys.instance(n));
      pipe.hgetall(keys.replicas(n));
      pipe.hlen(keys.retiring(n));
    }
    const results = (await pipe.exec()) ?? [];
    chunk.forEach((name, j) => {
      const json = results[j * 3]?.[1] as string | null;
      const hash = (results[j * 3 + 1]?.[1] ?? {}) as Record<string, string>;
      const retiring = Number(results[j * 3 + 2]?.[1] ?? 0);
      if (!json) {
        diverged.push(name);
        return;
      }
      const replicas = Object.entries(hash).map(([id, r]) => ({ id, ...(JSON.parse(r) as ReplicaJson) }));
      for (const r of replicas) if (r.node) recorded.add(`${r.node}/${r.id}`);
      const instance = parseLoosely(json);
      // Not JSON at all: the reconciler leaves such an instance's replicas as they are (and its
      // readers report it), so there is nothing to compare; its replicas still count as recorded.
      if (instance === undefined) return;
      const revision = instance.revision ?? "0";
      const wanted = wantsRunning(instance.spec ?? {}) ? (instance.spec?.replicas ?? 1) : 0;
      const placed = replicas.filter((r) => r.node);
      const healthy = placed.filter(
        (r) => (r.revision ?? "0") === revision && (r.index ?? 0) < wanted && readyNodes.has(r.node!) && assigned.get(r.id) === name,
      );
      const indexes = new Set(healthy.map((r) => r.index ?? 0));
      const pendingOnly = replicas.some((r) => !r.node && statusOf(r) === "pending");
      if (pendingOnly) pending.push(name);
      if (healthy.some((r) => isFailingStatus(r.status ?? ""))) failing.push(name);
      const converged = retiring === 0 && placed.length === healthy.length && (indexes.size === wanted || pendingOnly) && healthy.length === indexes.size;
      if (!converged) diverged.push(name);
    });
  }

  const orphans = new Set<string>();
  const orphanAssignments: ConvergenceReport["orphanAssignments"] = [];
  for (const [id, instance] of assigned) {
    if (!known.has(instance)) orphans.add(instance);
    else if (!recorded.has(`${assignedOn.get(id)}/${id}`)) orphanAssignments.push({ id, node: assignedOn.get(id)!, instance });
  }
  const routeIds = await redis.hkeys(keys.routes());
  const staleRoutes = routeIds.filter((id) => !assigned.has(id));
  return { instances: names.length, diverged, orphans: [...orphans], orphanAssignments, staleRoutes, pending, failing };
}
