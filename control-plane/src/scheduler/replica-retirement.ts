import { create } from "@bufbuild/protobuf";
import { isFailingStatus, type ReplicaPhase, statusOf } from "@tei-fleet/core";
import { ReplicaSchema } from "@tei-fleet/proto/fleet/v1";
import { RETIRE_REASON } from "../agents/replica-merge.ts";
import { runScript } from "../store/lua-scripts.ts";
import type { SchedulerContext, SchedulerTimings } from "../store/scheduler-context.ts";
import type { NodeCache } from "./node-cache.ts";
import { replicaJson, type StoredReplica } from "./replica-records.ts";

/**
 * How the reconciler takes a placed replica away: at once (`release`) or without losing a
 * request (`retire`: out of the route table first, released once routers had time to notice).
 * Both are idempotent Lua scripts, so workers racing on one replica do no harm.
 */
export function createReplicaRetirement(ctx: SchedulerContext, cache: NodeCache, timings: Pick<SchedulerTimings, "routeGraceMs">) {
  const { redis, keys } = ctx;

  /**
   * Releases a replica at once: its claims, assignment, route and retirement mark go, and its
   * record too unless `deleteRecord` is false.
   */
  async function release(name: string, r: StoredReplica, deleteRecord = true) {
    const removed = await runScript(
      redis,
      "release-replica",
      [
        keys.nodeClaims(r.replica.node),
        keys.assignments(r.replica.node),
        keys.assignmentsVersion(r.replica.node),
        keys.replicas(name),
        keys.routes(),
        keys.routesVersion(),
        keys.retiring(name),
        keys.routesLog(),
      ],
      [r.id, keys.changesChannel(), r.replica.node, deleteRecord ? "1" : "0"],
    );
    // The room is free again: let this process's next decisions see it (the cache does not
    // follow claim changes by itself).
    if (removed === 1) await cache.reload([r.replica.node]);
  }

  /**
   * Retires a replica in two steps so no request is lost: first out of the route table (status
   * stopping), then, once routers had `routeGraceMs` to notice, its assignment is released and the
   * agent stops the process. A failed or crash-looping replica has no route to take away (the
   * route left with the status), so it is released at once. Returns how long to wait before the
   * next step, 0 when done.
   */
  async function retire(name: string, r: StoredReplica, retiringSince: string | undefined, now: number): Promise<number> {
    // A failing replica never has a route (routers never get them): no grace needed.
    if (timings.routeGraceMs <= 0 || isFailingStatus(r.replica.status)) {
      await release(name, r);
      return 0;
    }
    if (statusOf(r.replica) !== "stopping" || retiringSince === undefined) {
      const next = create(ReplicaSchema, { ...r.replica, status: "stopping" satisfies ReplicaPhase, reason: RETIRE_REASON });
      await runScript(
        redis,
        "retire-replica",
        [keys.replicas(name), keys.routes(), keys.routesVersion(), keys.retiring(name), keys.routesLog()],
        [r.id, r.json, replicaJson(next), String(now), keys.changesChannel()],
      );
      return timings.routeGraceMs;
    }
    const due = Number(retiringSince) + timings.routeGraceMs;
    if (now < due) return due - now;
    await release(name, r);
    return 0;
  }

  return { release, retire };
}

/** The reconciler's two ways of taking a replica away. */
export type ReplicaRetirement = ReturnType<typeof createReplicaRetirement>;
