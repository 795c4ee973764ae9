import { create } from "@bufbuild/protobuf";
import { NodeSchema } from "@tei-fleet/proto/fleet/v1";
import { DRAIN_DEFAULTS } from "../nodes/node-operations.ts";
import type { EnqueueMany } from "../nodes/node-registry.ts";
import { StaleLeaseError, updateNode } from "../nodes/node-store.ts";
import { appendEvent } from "../store/event-log.ts";
import { runScript } from "../store/lua-scripts.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";

/** A fencing token with the lease it belongs to. */
export interface Fence {
  lease: string;
  token: string;
}

/**
 * Advances node drains, Nomad's `migrate` semantics: at most `max_parallel` replicas of a node
 * move at a time; each move places a replacement elsewhere and retires the original only once
 * the replacement runs (the instance reconciler does that part); at the deadline whatever is
 * left is stopped. Runs only in the lease holder, and its grants are fenced.
 */
export function createDrainController(ctx: SchedulerContext, enqueue: EnqueueMany) {
  const { redis, keys } = ctx;

  async function step(node: string, fence: Fence): Promise<void> {
    const [[, drain], [, assignments]] = (await redis.pipeline().hgetall(keys.drain(node)).hgetall(keys.assignments(node)).exec()) as [
      [unknown, Record<string, string>],
      [unknown, Record<string, string>],
    ];
    const now = ctx.now();
    if (!drain || Object.keys(drain).length === 0) {
      // Draining without a record (written by an older process, or lost): start one with defaults.
      await redis.hset(keys.drain(node), {
        max_parallel: String(DRAIN_DEFAULTS.maxParallel),
        deadline_ms: String(now + DRAIN_DEFAULTS.deadlineSecs * 1000),
        started_ms: String(now),
      });
      return;
    }
    const ids = Object.keys(assignments ?? {});
    const instanceOf = (id: string) => (JSON.parse(assignments[id]!) as { instanceName: string }).instanceName;

    if (ids.length === 0) {
      await updateNode(ctx, node, (n) => (n.draining ? create(NodeSchema, { ...n, draining: false, cordoned: true }) : undefined), fence);
      await redis.del(keys.drain(node));
      const took = Math.round((now - Number(drain.started_ms ?? now)) / 1000);
      await appendEvent(redis, keys, { kind: "node.drained", node, message: `node ${node} drained in ${took} s; it stays cordoned` });
      ctx.logger.info({ node, seconds: took }, "node drained");
      return;
    }

    if (now >= Number(drain.deadline_ms ?? Infinity)) {
      // Deadline: everything left moves now, without waiting for replacements.
      await grant(node, ids, fence);
      const instances = new Set(ids.map(instanceOf));
      for (const id of ids) {
        const instance = instanceOf(id);
        await runScript(
          redis,
          "release-replica",
          [
            keys.nodeClaims(node),
            keys.assignments(node),
            keys.assignmentsVersion(node),
            keys.replicas(instance),
            keys.routes(),
            keys.routesVersion(),
            keys.retiring(instance),
            keys.routesLog(),
          ],
          [id, keys.changesChannel(), node, "1"],
        );
      }
      await appendEvent(redis, keys, {
        kind: "node.draining",
        node,
        message: `node ${node} drain deadline reached: ${ids.length} replica(s) stopped without waiting for replacements`,
      });
      await enqueue(instances);
      return;
    }

    const moving = ids.filter((id) => drain[`move:${id}`] !== undefined);
    const stale = Object.keys(drain).filter((f) => f.startsWith("move:") && !(f.slice(5) in assignments));
    if (stale.length > 0) await redis.hdel(keys.drain(node), ...stale);
    const slots = Math.max(1, Number(drain.max_parallel ?? 1)) - moving.length;
    const next =
      slots > 0
        ? ids
            .filter((id) => drain[`move:${id}`] === undefined)
            .sort()
            .slice(0, slots)
        : [];
    if (next.length > 0) await grant(node, next, fence);
    // Nudge both the new moves and the ones under way (a lost nudge must not stall a drain).
    await enqueue(new Set([...next, ...moving].map(instanceOf)));
  }

  async function grant(node: string, ids: string[], fence: Fence) {
    const granted = await runScript(redis, "drain-grant", [keys.drain(node), keys.leaseToken(fence.lease)], [fence.token, ...ids]);
    if (granted === -1) throw new StaleLeaseError();
  }

  return { step };
}
