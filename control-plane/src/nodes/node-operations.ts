import { create, fromJsonString } from "@bufbuild/protobuf";
import { type Node, NodeSchema } from "@tei-fleet/proto/fleet/v1";
import { appendEvent } from "../store/event-log.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import { NodeNotFoundError } from "./node-errors.ts";
import type { EnqueueMany } from "./node-registry.ts";
import { removeNode } from "./node-removal.ts";
import { updateNode } from "./node-store.ts";

/** Default and bounds of a drain (Nomad's drain deadline defaults to one hour). */
export const DRAIN_DEFAULTS = { maxParallel: 1, deadlineSecs: 3600 } as const;

export { NodeInUseError, NodeNotFoundError } from "./node-errors.ts";

/** Operator views and actions on nodes (GET /nodes, cordon, uncordon, drain, delete). */
export interface NodeOperations {
  list(): Promise<Node[]>;
  get(name: string): Promise<Node>;
  cordon(name: string): Promise<Node>;
  uncordon(name: string): Promise<Node>;
  drain(name: string, options?: { maxParallel?: number; deadlineSecs?: number }): Promise<Node>;
  /**
   * Forgets a node nothing runs on (lost, left, or cordoned/drained with no assignments left).
   * Throws NodeNotFoundError, or NodeInUseError naming why it must stay.
   */
  delete(name: string): Promise<void>;
}

/** Creates the operations. `enqueue` lets pending instances use an uncordoned node. */
export function createNodeOperations(ctx: SchedulerContext, enqueue: EnqueueMany): NodeOperations {
  const { redis, keys } = ctx;

  /** Node records joined with live figures: heartbeat time, claimed memory, process count. */
  async function render(names: string[]): Promise<Node[]> {
    if (names.length === 0) return [];
    const pipe = redis.pipeline();
    for (const name of names) {
      pipe.get(keys.node(name));
      pipe.hgetall(keys.nodeClaims(name));
      pipe.zscore(keys.nodes(), name);
    }
    const results = (await pipe.exec()) ?? [];
    const nodes: Node[] = [];
    for (let i = 0; i < names.length; i++) {
      const json = results[i * 3]?.[1] as string | null;
      if (!json) continue;
      const claims = (results[i * 3 + 1]?.[1] ?? {}) as Record<string, string>;
      const score = results[i * 3 + 2]?.[1] as string | null;
      const node = fromJsonString(NodeSchema, json, { ignoreUnknownFields: true });
      node.lastHeartbeatMs = BigInt(Math.trunc(Number(score ?? 0)));
      node.instanceCount = Number(claims.count ?? 0);
      for (const gpu of node.gpus) gpu.memoryAllocatedMb = BigInt(claims[`gpu:${gpu.index}`] ?? 0);
      nodes.push(node);
    }
    return nodes;
  }

  async function get(name: string): Promise<Node> {
    const [node] = await render([name]);
    if (!node) throw new NodeNotFoundError(name);
    return node;
  }

  async function change(name: string, mutate: (n: Node) => Node | undefined): Promise<Node> {
    const updated = await updateNode(ctx, name, mutate);
    if (!updated) throw new NodeNotFoundError(name);
    return get(name);
  }

  return {
    async list() {
      return render(await redis.zrange(keys.nodes(), 0, -1));
    },
    get,

    async cordon(name) {
      let changed = false;
      const node = await change(name, (n) => {
        if (n.cordoned) return undefined;
        changed = true;
        return create(NodeSchema, { ...n, cordoned: true });
      });
      if (changed) await appendEvent(redis, keys, { kind: "node.cordoned", node: name, message: `node ${name} cordoned: no new instances` });
      return node;
    },

    async uncordon(name) {
      let changed = false;
      const node = await change(name, (n) => {
        if (!n.cordoned && !n.draining) return undefined;
        changed = true;
        return create(NodeSchema, { ...n, cordoned: false, draining: false });
      });
      if (changed) {
        // Uncordoning cancels a drain in progress; replicas already moved stay where they are.
        await redis.del(keys.drain(name));
        await appendEvent(redis, keys, { kind: "node.uncordoned", node: name, message: `node ${name} uncordoned` });
        await enqueue(await redis.smembers(keys.pending()));
      }
      return node;
    },

    async drain(name, options = {}) {
      const maxParallel = Math.max(1, options.maxParallel || DRAIN_DEFAULTS.maxParallel);
      const deadlineSecs = options.deadlineSecs || DRAIN_DEFAULTS.deadlineSecs;
      const now = ctx.now();
      // The drain record first: the moment the node says "draining", the leader may act on it.
      await redis.hset(keys.drain(name), {
        max_parallel: String(maxParallel),
        deadline_ms: String(now + deadlineSecs * 1000),
        started_ms: String(now),
      });
      let exists = false;
      const node = await updateNode(ctx, name, (n) => {
        exists = true;
        return create(NodeSchema, { ...n, cordoned: true, draining: true });
      });
      if (!node || !exists) {
        await redis.del(keys.drain(name));
        throw new NodeNotFoundError(name);
      }
      await appendEvent(redis, keys, {
        kind: "node.draining",
        node: name,
        message: `node ${name} draining: ${maxParallel} at a time, deadline ${deadlineSecs} s`,
      });
      return get(name);
    },

    async delete(name) {
      await removeNode(ctx, name);
    },
  };
}
