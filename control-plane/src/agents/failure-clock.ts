import { isFailingStatus, statusOf } from "@tei-fleet/core";
import type { Replica } from "@tei-fleet/proto/fleet/v1";
import type { SchedulerContext } from "../store/scheduler-context.ts";

/**
 * Keeps a replica's failure clock (`failing:{id}` in `reschedules:{instance}`) from the statuses
 * its agent reports, where every transition is seen. The clock measures how long the replica has
 * been unable to serve: it starts when the replica turns failed or crash_loop after serving
 * (running, unhealthy), goes on through the agent's restart attempts (failed -> starting ->
 * crash_loop is one episode), and stops when the replica runs again. The reconciler starts a
 * clock itself for a failing replica it finds without one (a report written before this existed).
 *
 * Returns true when the replica just began failing, so the caller nudges the reconciler.
 */
export async function updateFailureClock(
  ctx: Pick<SchedulerContext, "redis" | "keys">,
  instance: string,
  before: Replica,
  after: Replica,
  now: number,
): Promise<boolean> {
  const key = ctx.keys.reschedules(instance);
  const field = `failing:${after.assignmentId}`;
  const was = statusOf(before);
  if (isFailingStatus(after.status) && !isFailingStatus(before.status)) {
    if (was === "running" || was === "unhealthy") await ctx.redis.hset(key, field, String(now));
    else await ctx.redis.hsetnx(key, field, String(now));
    return true;
  }
  // Only a replica that failed before can have a clock: a first start costs no command.
  if (statusOf(after) === "running" && was !== "running" && (after.restarts > 0 || isFailingStatus(before.status))) {
    await ctx.redis.hdel(key, field);
  }
  return false;
}
