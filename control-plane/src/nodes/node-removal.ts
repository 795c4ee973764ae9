import type { Node } from "@tei-fleet/proto/fleet/v1";
import { EVENT_STREAM_MAXLEN } from "../store/event-log.ts";
import { runScript } from "../store/lua-scripts.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import { NodeInUseError, NodeNotFoundError } from "./node-errors.ts";
import { readNode, StaleLeaseError } from "./node-store.ts";

/** How a removal was asked for: by an operator, or by the reconcile loop forgetting a lost node. */
export interface RemovalOptions {
  /** The reconciler's lease: the write is refused when this process no longer holds it. */
  fence?: { lease: string; token: string };
  /**
   * Remove only when the node is out of service (lost or left) and its last heartbeat is not
   * newer than this (ms). For automatic forgetting; an operator's delete leaves it unset.
   */
  silentSinceMs?: number;
  /** The event's message; default names the state the node was deleted in. */
  message?: (node: Node) => string;
}

/**
 * Why a node may not be deleted now, or undefined when it may: nothing runs there and nothing can
 * be placed there (lost, left, or cordoned/draining with no assignments).
 */
export function refusal(node: Node, assignments: number): string | undefined {
  const state = node.state || "ready";
  const count = `${assignments} assignment${assignments === 1 ? "" : "s"}`;
  if (state !== "ready") {
    return assignments === 0 ? undefined : `node ${node.name} is ${state} but still has ${count}; retry shortly`;
  }
  if (node.draining) {
    return assignments === 0 ? undefined : `node ${node.name} is draining with ${count} left; wait for the drain to finish`;
  }
  if (node.cordoned) {
    return assignments === 0 ? undefined : `node ${node.name} is cordoned with ${count}; drain it first`;
  }
  return assignments === 0
    ? `node ${node.name} is ready and schedulable; cordon or drain it first`
    : `node ${node.name} is ready with ${count}; drain it first`;
}

/** What an operator's delete records about the node it removed. */
function defaultMessage(node: Node): string {
  const state = node.state || "ready";
  const how = state !== "ready" ? state : node.draining ? "drained" : "cordoned";
  return `node ${node.name} deleted (it was ${how}); its agent registers anew if it comes back`;
}

/**
 * Removes a node and all its bookkeeping (record, claims, assignments, drain record, heartbeat
 * entry) in one Lua script, with the node.deleted event. Resolves true when removed, false when
 * `silentSinceMs` was given and the node turned out to be alive or in service after all.
 * Throws NodeNotFoundError for an unknown node and NodeInUseError when something runs there.
 */
export async function removeNode(ctx: SchedulerContext, name: string, options: RemovalOptions = {}): Promise<boolean> {
  const { redis, keys } = ctx;
  const automatic = options.silentSinceMs !== undefined;
  for (let attempt = 0; attempt < 10; attempt++) {
    const stored = await readNode(ctx, name);
    if (!stored) throw new NodeNotFoundError(name);
    const node = stored.node;
    if (automatic && (node.state || "ready") === "ready") return false;
    const why = refusal(node, await redis.hlen(keys.assignments(name)));
    if (why) {
      if (automatic) return false;
      throw new NodeInUseError(name, why);
    }
    const result = (await runScript(
      redis,
      "node-delete",
      [
        keys.node(name),
        keys.nodeClaims(name),
        keys.assignments(name),
        keys.assignmentsVersion(name),
        keys.drain(name),
        keys.nodes(),
        keys.events(),
        keys.leaseToken(options.fence?.lease ?? "reconciler"),
      ],
      [
        options.fence?.token ?? "",
        stored.json,
        name,
        keys.changesChannel(),
        automatic ? String(options.silentSinceMs) : "",
        (options.message ?? defaultMessage)(node),
        String(ctx.now()),
        String(EVENT_STREAM_MAXLEN),
      ],
    )) as [number, string?, number?];
    if (result[0] === -1) throw new StaleLeaseError();
    if (result[0] === 1) {
      ctx.logger.info({ node: name, state: node.state, automatic }, "node deleted");
      return true;
    }
    if (result[1] === "heartbeat") return false;
    // "changed" or "assignments": the next read decides again (and names the reason if refused).
  }
  throw new Error(`node ${name} changed 10 times while being deleted; giving up`);
}
