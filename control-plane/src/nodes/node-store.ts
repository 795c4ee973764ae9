import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { type Node, NodeSchema } from "@tei-fleet/proto/fleet/v1";
import { runScript } from "../store/lua-scripts.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";

/** A node record as stored, with the exact JSON read (the compare-and-set witness). */
export interface StoredNode {
  json: string;
  node: Node;
}

/** Reads `node:{name}`; undefined when the node never registered. */
export async function readNode(ctx: SchedulerContext, name: string): Promise<StoredNode | undefined> {
  const json = await ctx.redis.get(ctx.keys.node(name));
  if (json === null) return undefined;
  return { json, node: fromJsonString(NodeSchema, json, { ignoreUnknownFields: true }) };
}

/** Thrown when a fenced write finds that this process no longer holds the lease. */
export class StaleLeaseError extends Error {
  constructor() {
    super("the reconciler lease moved to another control plane; write refused");
    this.name = "StaleLeaseError";
  }
}

/**
 * Changes a node record by compare-and-set, retrying when another writer got there first.
 * `mutate` returns the new node, or undefined to leave it as it is. Returns the node as written
 * (or as found), undefined when the node does not exist.
 */
export async function updateNode(
  ctx: SchedulerContext,
  name: string,
  mutate: (node: Node) => Node | undefined,
  fence?: { lease: string; token: string },
): Promise<Node | undefined> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const stored = await readNode(ctx, name);
    if (!stored) return undefined;
    const next = mutate(create(NodeSchema, stored.node));
    if (!next) return stored.node;
    const result = await runScript(
      ctx.redis,
      "set-node",
      [ctx.keys.node(name), ctx.keys.leaseToken(fence?.lease ?? "reconciler")],
      [stored.json, toJsonString(NodeSchema, next), ctx.keys.changesChannel(), fence?.token ?? "", name],
    );
    if (result === 1) return next;
    if (result === -1) throw new StaleLeaseError();
  }
  throw new Error(`node ${name} changed 20 times while being updated; giving up`);
}
