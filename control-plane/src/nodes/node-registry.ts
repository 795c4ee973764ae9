import { create, toJsonString } from "@bufbuild/protobuf";
import { type Node, NodeSchema } from "@tei-fleet/proto/fleet/v1";
import { appendEvent } from "../store/event-log.ts";
import { runScript } from "../store/lua-scripts.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import { readNode, StaleLeaseError } from "./node-store.ts";

/** Enqueues instances for the placement worker (the scheduler's enqueue, batched). */
export type EnqueueMany = (instances: Iterable<string>) => Promise<void>;

/** Node lifecycle: registration, leaving, loss. Operator actions live in node-operations.ts. */
export interface NodeRegistry {
  /** Stores the node's inventory and gives it a new epoch. */
  register(node: Node): Promise<{ epoch: bigint; returned: boolean }>;
  /** The agent leaves on purpose: its instances go elsewhere. False when the epoch is stale. */
  leave(name: string, epoch: bigint): Promise<boolean>;
  /**
   * Marks a node lost (fenced by the reconciler's lease) when its heartbeat score is still older
   * than `cutoffMs`. Returns false when a heartbeat arrived meanwhile.
   */
  markLost(name: string, cutoffMs: number, fence: { lease: string; token: string }): Promise<boolean>;
}

/** Creates the registry. `enqueue` re-places instances when capacity appears or disappears. */
export function createNodeRegistry(ctx: SchedulerContext, enqueue: EnqueueMany): NodeRegistry {
  const { redis, keys } = ctx;

  /** Shared by lost and left: state change, assignments and routes gone, instances re-placed. */
  async function takeOutOfService(name: string, state: "lost" | "left", cutoffMs: number | undefined, token: string, lease: string): Promise<boolean> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const stored = await readNode(ctx, name);
      if (stored?.node.state !== "ready") return false;
      const next = create(NodeSchema, { ...stored.node, state, draining: false });
      const result = (await runScript(
        redis,
        "node-gone",
        [
          keys.node(name),
          keys.nodeClaims(name),
          keys.assignments(name),
          keys.assignmentsVersion(name),
          keys.routes(),
          keys.routesVersion(),
          keys.leaseToken(lease),
          keys.nodes(),
          keys.routesLog(),
        ],
        [token, stored.json, toJsonString(NodeSchema, next), keys.changesChannel(), name, cutoffMs === undefined ? "" : String(cutoffMs)],
      )) as Array<number | string>;
      if (result[0] === -1) throw new StaleLeaseError();
      if (result[0] === 0) {
        // Either the record changed (retry) or a heartbeat arrived (the node is alive after all).
        if (cutoffMs !== undefined) {
          const score = await redis.zscore(keys.nodes(), name);
          if (Number(score ?? 0) > cutoffMs) return false;
        }
        continue;
      }
      const instances = new Set<string>();
      for (const json of result.slice(1)) instances.add((JSON.parse(String(json)) as { instanceName: string }).instanceName);
      await redis.del(keys.drain(name));
      await appendEvent(redis, keys, {
        kind: state === "lost" ? "node.lost" : "node.left",
        node: name,
        message:
          state === "lost"
            ? `node ${name} missed its heartbeats; ${instances.size} instance(s) move elsewhere`
            : `node ${name} left; ${instances.size} instance(s) move elsewhere`,
      });
      ctx.logger.warn({ node: name, state, instances: instances.size }, "node out of service");
      await enqueue(instances);
      return true;
    }
    return false;
  }

  return {
    async register(input) {
      const name = input.name;
      for (let attempt = 0; attempt < 10; attempt++) {
        const stored = await readNode(ctx, name);
        const prev = stored?.node;
        const now = BigInt(ctx.now());
        const live = prev?.state === "ready";
        const node = create(NodeSchema, {
          name,
          address: input.address,
          agentUrl: input.agentUrl,
          labels: input.labels,
          gpus: input.gpus.map((g) => ({ ...g, memoryAllocatedMb: 0n })),
          agentVersion: input.agentVersion,
          capacity: input.capacity,
          portRangeStart: input.portRangeStart,
          portRangeEnd: input.portRangeEnd,
          state: "ready",
          cordoned: prev?.cordoned ?? false,
          draining: live ? (prev?.draining ?? false) : false,
          epoch: (prev?.epoch ?? 0n) + 1n,
          joinedAtMs: live ? prev!.joinedAtMs : now,
        });
        if (!prev) {
          // A new node's assignment versions start at the clock, not at 0: an agent that knew an
          // earlier life of this name (deleted since) must never take a new version for one it
          // applied then. NX: a counter already there (a racing registration) keeps counting.
          await redis.set(keys.assignmentsVersion(name), String(ctx.now()), "NX");
        }
        const ok = await runScript(
          redis,
          "set-node",
          [keys.node(name), keys.leaseToken("reconciler")],
          [stored?.json ?? "", toJsonString(NodeSchema, node), keys.changesChannel(), "", name],
        );
        if (ok !== 1) continue;
        await redis.zadd(keys.nodes(), ctx.now(), name);
        if (live) {
          // The agent restarted while the node stayed alive: keep its assignments (the processes
          // kept running), stamped with the new epoch so the agent accepts them.
          await runScript(
            redis,
            "restamp-assignments",
            [keys.assignments(name), keys.assignmentsVersion(name), keys.node(name)],
            [String(node.epoch), keys.changesChannel(), name],
          );
        } else {
          await appendEvent(redis, keys, {
            kind: prev ? "node.returned" : "node.joined",
            node: name,
            message: `node ${name} ${prev ? "returned" : "joined"} with ${node.gpus.length} GPU(s), epoch ${node.epoch}`,
          });
          // Capacity appeared: give every instance waiting for room another chance.
          await enqueue(await redis.smembers(keys.pending()));
        }
        ctx.logger.info({ node: name, epoch: String(node.epoch), gpus: node.gpus.length, live }, "node registered");
        return { epoch: node.epoch, returned: Boolean(prev) && !live };
      }
      throw new Error(`node ${name} changed 10 times while registering; giving up`);
    },

    async leave(name, epoch) {
      const stored = await readNode(ctx, name);
      if (!stored || stored.node.epoch !== epoch) return false;
      return takeOutOfService(name, "left", undefined, "", "reconciler");
    },

    markLost(name, cutoffMs, fence) {
      return takeOutOfService(name, "lost", cutoffMs, fence.token, fence.lease);
    },
  };
}
