import { isFailingStatus, statusOf } from "@tei-fleet/core";
import { EVENT_STREAM_MAXLEN } from "../store/event-log.ts";
import { runScript } from "../store/lua-scripts.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import type { StoredReplica } from "./replica-records.ts";
import { formatSpan, type ReschedulePolicy, type RescheduleState } from "./reschedule-policy.ts";

/**
 * The reconciler's writes to `reschedules:{instance}` (see keys.ts): failure clocks it starts,
 * reschedules it records, notes it announces, and what it forgets. Reads come with the
 * reconciler's bulk observe; the decisions are reschedule-policy.ts'.
 */
export function createRescheduleStore(ctx: SchedulerContext, policy: ReschedulePolicy) {
  const { redis, keys } = ctx;

  /**
   * Forgets what no longer applies: clocks of replicas that are gone or run again, reschedules
   * older than the window, notes of indexes where nothing fails any more. Most passes write nothing.
   */
  async function tidy(name: string, state: RescheduleState, live: readonly StoredReplica[], now: number) {
    const byId = new Map(live.map((r) => [r.id, r]));
    const stale: string[] = [];
    for (const id of state.failingSince.keys()) {
      const r = byId.get(id);
      if (!r || statusOf(r.replica) === "running") stale.push(`failing:${id}`);
    }
    for (const m of state.moves) if (now - m.at >= policy.intervalMs) stale.push(`moved:${m.id}`);
    const failingIndexes = new Set(live.filter((r) => isFailingStatus(r.replica.status)).map((r) => r.replica.index));
    for (const index of state.notes.keys()) if (!failingIndexes.has(index)) stale.push(`note:${index}`);
    if (stale.length > 0) await redis.hdel(keys.reschedules(name), ...stale);
  }

  /** Since when the replica has been failing; a failing replica without a clock starts one now. */
  async function failingSince(name: string, state: RescheduleState, r: StoredReplica, now: number): Promise<number> {
    const known = state.failingSince.get(r.id);
    if (known !== undefined) return known;
    const field = `failing:${r.id}`;
    // HSETNX then HGET: a clock another process started meanwhile wins.
    const [, [, value]] = (await redis.multi().hsetnx(keys.reschedules(name), field, String(now)).hget(keys.reschedules(name), field).exec()) as [
      unknown,
      [unknown, string | null],
    ];
    return Number(value ?? now);
  }

  /** Records a reschedule with its instance.rescheduled event (once, however many workers raced). */
  async function recordMove(name: string, failed: StoredReplica, to: string, since: number, attempt: number, now: number) {
    const { index, revision, node: from, status, reason } = failed.replica;
    const entry = JSON.stringify({ at: now, index, revision: String(revision), from, to });
    const seconds = Math.round((now - since) / 1000);
    // The agent's "; restarting in 4.0s" no longer applies once the replica has moved.
    const why = reason.replace(/; restarting in [\d.]+s$/, "");
    const message =
      `replica ${index} (${failed.id}) rescheduled from ${from} to ${to} after ${seconds} s ${status}` +
      ` (reschedule ${attempt} of at most ${policy.attempts} per ${formatSpan(policy.intervalMs)})${why ? `: ${why}` : ""}`;
    const recorded = await runScript(
      redis,
      "record-reschedule",
      [keys.reschedules(name), keys.events()],
      // The event's time is the write's, so it sorts after the replacement's instance.placed.
      [failed.id, entry, String(index), keys.changesChannel(), name, from, message, String(ctx.now()), String(EVENT_STREAM_MAXLEN)],
    );
    if (recorded === 1) ctx.logger.warn({ instance: name, index, from, to, status, reason }, "rescheduled a failing replica");
  }

  /** Says why a failing replica stays where it is, once per distinct note (an instance.reschedule_blocked event). */
  async function announce(name: string, r: StoredReplica, note: string, now: number) {
    const { index, node, status } = r.replica;
    const message = `replica ${index} (${r.id}) stays ${status} on ${node}: ${note}`;
    const announced = await runScript(
      redis,
      "reschedule-note",
      [keys.reschedules(name), keys.events()],
      [String(index), note, keys.changesChannel(), name, node, message, String(now), String(EVENT_STREAM_MAXLEN)],
    );
    if (announced === 1) ctx.logger.info({ instance: name, index, node, note }, "failing replica cannot be rescheduled now");
  }

  return { tidy, failingSince, recordMove, announce };
}

/** The reconciler's reschedule bookkeeping. */
export type RescheduleStore = ReturnType<typeof createRescheduleStore>;
