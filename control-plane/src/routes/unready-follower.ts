import type { WatchChange, WatchMirror } from "@tei-fleet/core/watch";
import type { ChangesBus } from "../store/changes-bus.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import type { WatchCacheHooks } from "../watch/watch-cache.ts";
import type { UnreadySync } from "./unready-sync.ts";

/** Options of the unready follower. */
export interface UnreadyFollowerOptions {
  /**
   * The longest time between two reconciles of the instances listed as unready (their reasons
   * change without any nudge: a pending reason). Default 1000 ms.
   */
  contentCheckMs?: number;
  /**
   * The longest time between two comparisons of the whole instance list with the table, for a
   * create or delete whose nudge was lost. Default 5000 ms.
   */
  membershipCheckMs?: number;
}

/** Least time between two background reconciles, however many nudges arrive (bounds the reads). */
const MIN_GAP_MS = 250;

/**
 * Keeps the route table's unready entries current while this process serves route watches (the
 * route table cache's hooks). It reconciles (unready-sync.ts)
 *
 * - before watchers see it, every instance a batch of changes left with neither a route nor an
 *   unready entry (its last route went: it is unready now, or deleted), so that no router ever
 *   sees an existing instance as unknown;
 * - the instance named by an "instance:{name}" nudge (created, deleted);
 * - every instance listed as unready on an "event" nudge (a replica's status changed) and at
 *   least every `contentCheckMs`: the cost is the unready instances, normally few;
 * - every `membershipCheckMs`, the instances found in neither collection and the unready entries
 *   of instances that no longer exist: the safety net for a lost nudge, the one pass that reads
 *   the whole instance list (names only).
 *
 * A route's arrival needs nothing here: the script that adds it removes its instance's entry.
 */
export function createUnreadyFollower(ctx: SchedulerContext, bus: ChangesBus, sync: UnreadySync, options: UnreadyFollowerOptions = {}): WatchCacheHooks {
  const contentCheckMs = options.contentCheckMs ?? 1000;
  const membershipCheckMs = options.membershipCheckMs ?? 5000;
  /** Routes per instance in the cache's mirror: an instance at 0 has none. */
  const routeCounts = new Map<string, number>();
  /** The cache's mirror once loaded (the background work waits for it: counts come from it). */
  let mirror: WatchMirror | undefined;
  let unsubscribe: (() => void) | undefined;
  let timers: NodeJS.Timeout[] = [];

  // The background work: names to reconcile, and whether to add the unready ones or the whole
  // membership comparison; one run at a time, at most one every MIN_GAP_MS.
  const queued = new Set<string>();
  let unreadyDue = false;
  let membershipDue = false;
  let working = false;
  let lastRun = 0;

  const routed = (name: string) => routeCounts.has(name);
  const count = (name: string, by: number) => {
    const n = (routeCounts.get(name) ?? 0) + by;
    if (n > 0) routeCounts.set(name, n);
    else routeCounts.delete(name);
  };

  /** Instances in neither collection, and unready entries of instances that no longer exist. */
  async function membershipNames(m: WatchMirror): Promise<string[]> {
    const names = await ctx.redis.zrange(ctx.keys.instances(), 0, -1);
    const existing = new Set(names);
    const out = names.filter((n) => !routeCounts.has(n) && m.get("unreadyInstance", n) === undefined);
    for (const n of m.keys("unreadyInstance")) if (!existing.has(n)) out.push(n);
    return out;
  }

  async function work(): Promise<void> {
    while (mirror !== undefined && (queued.size > 0 || unreadyDue || membershipDue)) {
      const wait = lastRun + MIN_GAP_MS - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait).unref());
      const m = mirror;
      if (m === undefined) break;
      lastRun = Date.now();
      const names = [...queued];
      queued.clear();
      if (unreadyDue) names.push(...m.keys("unreadyInstance"));
      const membership = membershipDue;
      unreadyDue = membershipDue = false;
      try {
        if (membership) names.push(...(await membershipNames(m)));
        await sync.reconcile(names, routed);
      } catch (err) {
        ctx.logger.debug({ err: (err as Error).message }, "unready entries not reconciled; retrying on the next check");
      }
    }
  }

  const kick = () => {
    if (working) return;
    working = true;
    void work().finally(() => {
      working = false;
    });
  };

  return {
    started() {
      unsubscribe = bus.subscribe((message) => {
        if (message === "event") unreadyDue = true;
        else if (message.startsWith("instance:")) queued.add(message.slice("instance:".length));
        else return;
        kick();
      });
      const every = (ms: number, mark: () => void) => {
        const timer = setInterval(() => {
          mark();
          kick();
        }, ms);
        timer.unref();
        timers.push(timer);
      };
      every(contentCheckMs, () => {
        unreadyDue = true;
      });
      every(membershipCheckMs, () => {
        membershipDue = true;
      });
    },
    stopped() {
      mirror = undefined;
      unsubscribe?.();
      for (const timer of timers) clearInterval(timer);
      timers = [];
      queued.clear();
    },
    loaded(m) {
      mirror = m;
      routeCounts.clear();
      for (const route of m.values("route")) count(route.instanceName, 1);
      // Entries written while no control plane watched may be stale: compare everything once.
      membershipDue = unreadyDue = true;
      kick();
    },
    async settle(changes: WatchChange[], m: WatchMirror): Promise<boolean> {
      const emptied = new Set<string>();
      for (const change of changes) {
        if (change.collection !== "route") continue;
        const before = change.before?.value.case === "route" ? change.before.value.value.instanceName : undefined;
        const after = change.after?.value.case === "route" ? change.after.value.value.instanceName : undefined;
        if (before !== undefined) count(before, -1);
        if (after !== undefined) count(after, 1);
        if (before !== undefined && !routeCounts.has(before)) emptied.add(before);
      }
      const orphans = [...emptied].filter((n) => !routeCounts.has(n) && m.get("unreadyInstance", n) === undefined);
      if (orphans.length === 0) return false;
      try {
        await sync.reconcile(orphans, routed);
        // Read the log again even when this wrote nothing: another reconcile (a background one
        // here, another process's) may have written the entries first.
        return true;
      } catch (err) {
        // Watchers get the removal now and the entry with the next check.
        ctx.logger.debug({ err: (err as Error).message }, "unready entries of instances that lost their routes not written");
        for (const n of orphans) queued.add(n);
        kick();
        return false;
      }
    },
  };
}
