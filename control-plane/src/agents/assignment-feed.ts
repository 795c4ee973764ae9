import type { Assignment } from "@tei-fleet/proto/fleet/v1";
import { ApiError } from "../errors/api-error.ts";
import type { ChangesBus } from "../store/changes-bus.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import type { HeartbeatHandler } from "./heartbeat.ts";

/**
 * Thrown into a WatchAssignments stream when the node must register again. An ApiError with the
 * catalogue's STALE_EPOCH (Connect FAILED_PRECONDITION, on which agents register again), so the
 * API's one mapping recognises it by type, like the nodes' errors.
 */
export class StaleEpochError extends ApiError {
  readonly node: string;
  constructor(node: string) {
    super("STALE_EPOCH", `node ${node} is not registered with this epoch; register again`, { field: "epoch" });
    this.name = "StaleEpochError";
    this.node = node;
  }
}

/**
 * WatchAssignments: the node's full assignments at once, then again on every change. Woken by
 * "assignments:{node}" on the changes channel, with a poll of the version as the safety net;
 * ends with StaleEpochError when the node is lost or re-registered, so the agent registers again.
 */
export async function* watchAssignments(
  ctx: SchedulerContext,
  bus: ChangesBus,
  heartbeats: HeartbeatHandler,
  node: string,
  epoch: bigint,
  signal: AbortSignal,
  pollMs = 2000,
): AsyncGenerator<{ version: bigint; assignments: Assignment[] }> {
  let wake: (() => void) | undefined;
  let nudged = false;
  const unsubscribe = bus.subscribe((message) => {
    if (message !== `assignments:${node}` && message !== `node:${node}`) return;
    nudged = true;
    wake?.();
  });
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);
  try {
    let sent: bigint | undefined;
    while (!signal.aborted) {
      nudged = false;
      const version = BigInt((await ctx.redis.get(ctx.keys.assignmentsVersion(node))) ?? 0);
      if (version !== sent) {
        const current = await heartbeats.assignments(node, epoch);
        if (!current) throw new StaleEpochError(node);
        sent = current.version;
        yield current;
      } else {
        if (!(await heartbeats.isCurrent(node, epoch))) throw new StaleEpochError(node);
      }
      if (nudged) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onAbort);
  }
}
