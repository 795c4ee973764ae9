import { fromJsonString } from "@bufbuild/protobuf";
import { type Node, NodeSchema } from "@tei-fleet/proto/fleet/v1";
import type { Redis } from "ioredis";
import type { KeySchema } from "./keys.ts";

/**
 * Read-only access to node records (`node:{name}`, written by the scheduler's node registry) for
 * the parts of the API that need them: the log proxy (the agent's URL) and the fleet gauges.
 */
export interface NodeReader {
  /** One node, or undefined when it is unknown. */
  get(name: string): Promise<Node | undefined>;
  /** Every registered node. */
  list(): Promise<Node[]>;
}

/** Creates a NodeReader. */
export function createNodeReader(redis: Redis, keys: KeySchema): NodeReader {
  const parse = (json: string) => fromJsonString(NodeSchema, json, { ignoreUnknownFields: true });
  return {
    async get(name) {
      const raw = await redis.get(keys.node(name));
      return raw === null ? undefined : parse(raw);
    },
    async list() {
      const names = await redis.zrange(keys.nodes(), 0, -1);
      if (names.length === 0) return [];
      const raws = await redis.mget(names.map((n) => keys.node(n)));
      return raws.filter((r): r is string => r !== null).map(parse);
    },
  };
}
