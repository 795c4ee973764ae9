import { statusOf } from "@tei-fleet/core";
import type { Instance } from "@tei-fleet/proto/fleet/v1";
import { appendEvent } from "../store/event-log.ts";
import { runScript } from "../store/lua-scripts.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import { replicaCount } from "./placement-request.ts";
import { buildUnplacedReplica, parseReplicas, replicaJson, type StoredReplica } from "./replica-records.ts";

/**
 * The reconciler's writes of placeholders: the replica records, without a node, that stand for a
 * replica the spec wants but nothing runs (pending with the reason, or stopped on request), so
 * readers of `replicas:{name}` see every index. Writes never overwrite a placement another
 * worker made meanwhile (put-unplaced and forget-unplaced are compare-and-set).
 */
export function createUnplacedRecords(ctx: SchedulerContext) {
  const { redis, keys } = ctx;

  /**
   * Records why replica `index` is not placed, with an event when the reason is new. Its
   * placeholder leaves `unplaced` (the caller's list of placeholders still to account for).
   */
  async function markPending(name: string, index: number, revision: bigint, reason: string, unplaced: Map<string, StoredReplica>) {
    const id = `${name}-${index}-r${revision}`;
    const existing = unplaced.get(id);
    unplaced.delete(id);
    if (statusOf(existing?.replica) === "pending" && existing?.replica.reason === reason) return;
    const written = await runScript(
      redis,
      "put-unplaced",
      [keys.replicas(name)],
      [id, replicaJson(buildUnplacedReplica(id, index, revision, "pending", reason))],
    );
    if (written !== 1) return; // another worker placed it meanwhile
    await appendEvent(redis, keys, { kind: "instance.pending", instance: name, message: `replica ${index} pending: ${reason}` });
  }

  /** A stopped instance shows one "stopped" record per index once its processes are released. */
  async function markStopped(name: string, spec: NonNullable<Instance["spec"]>, revision: bigint) {
    // Read again: this pass may have released some replicas and not others (router grace).
    const records = parseReplicas(await redis.hgetall(keys.replicas(name)));
    for (let index = 0; index < replicaCount(spec); index++) {
      const id = `${name}-${index}-r${revision}`;
      if (records.some((r) => r.replica.index === index && r.replica.node !== "")) continue; // still stopping
      if (statusOf(records.find((r) => r.id === id)?.replica) === "stopped") continue;
      const written = await runScript(
        redis,
        "put-unplaced",
        [keys.replicas(name)],
        [id, replicaJson(buildUnplacedReplica(id, index, revision, "stopped", "stopped on request"))],
      );
      if (written !== 1) continue;
      await appendEvent(redis, keys, { kind: "instance.stopped", instance: name, message: `replica ${index} stopped on request` });
    }
  }

  /** Deletes a placeholder that no longer describes a missing replica, unless it changed since it was read. */
  async function forget(name: string, r: StoredReplica) {
    await runScript(redis, "forget-unplaced", [keys.replicas(name)], [r.id, r.json]);
  }

  return { markPending, markStopped, forget };
}

/** The reconciler's placeholder records. */
export type UnplacedRecords = ReturnType<typeof createUnplacedRecords>;
