import type { Node } from "@tei-fleet/proto/fleet/v1";
import type { Redis } from "ioredis";
import type { InstanceRepository, StoredInstance } from "../store/instance-repository.ts";
import type { KeySchema } from "../store/keys.ts";
import type { NodeReader } from "../store/node-reader.ts";

/** The fleet as read for one scrape: instances with replicas, nodes, and the GPUs claimed. */
export interface FleetSnapshot {
  instances: StoredInstance[];
  nodes: Node[];
  /** node name → GPU indexes with memory claimed on them. */
  claimedGpus: Map<string, Set<number>>;
}

/**
 * Reads a FleetSnapshot at most once per `ttlMs`, however many metrics ask for it during one
 * scrape: every gauge is computed from Redis at scrape time (nothing kept in process that a
 * second control-plane replica would not see), without one Redis read per metric.
 */
export function createSnapshotReader(redis: Redis, keys: KeySchema, repo: InstanceRepository, nodes: NodeReader, ttlMs = 1000): () => Promise<FleetSnapshot> {
  let last: { at: number; value: Promise<FleetSnapshot> } | undefined;
  const read = async (): Promise<FleetSnapshot> => {
    const [instances, nodeList] = await Promise.all([repo.list(), nodes.list()]);
    const claimedGpus = new Map<string, Set<number>>();
    if (nodeList.length > 0) {
      const pipe = redis.pipeline();
      for (const n of nodeList) pipe.hgetall(keys.nodeClaims(n.name));
      const results = (await pipe.exec()) ?? [];
      nodeList.forEach((n, i) => {
        const claims = (results[i]?.[1] ?? {}) as Record<string, string>;
        const gpus = new Set<number>();
        for (const [field, value] of Object.entries(claims)) {
          const m = /^gpu:(\d+)$/.exec(field);
          if (m && Number(value) > 0) gpus.add(Number(m[1]));
        }
        claimedGpus.set(n.name, gpus);
      });
    }
    return { instances, nodes: nodeList, claimedGpus };
  };
  return () => {
    const now = Date.now();
    if (!last || now - last.at > ttlMs) {
      const value = read();
      last = { at: now, value };
      // A failed read must not be served from the cache on the next scrape.
      value.catch(() => {
        if (last?.value === value) last = undefined;
      });
    }
    return last.value;
  };
}
