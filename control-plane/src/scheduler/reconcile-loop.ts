import { NodeNotFoundError } from "../nodes/node-errors.ts";
import type { EnqueueMany, NodeRegistry } from "../nodes/node-registry.ts";
import { removeNode } from "../nodes/node-removal.ts";
import { StaleLeaseError } from "../nodes/node-store.ts";
import { runScript } from "../store/lua-scripts.ts";
import type { SchedulerContext, SchedulerTimings } from "../store/scheduler-context.ts";
import { compareDesiredAndObserved } from "./convergence.ts";
import { createDrainController, type Fence } from "./drain-controller.ts";
import { createLease } from "./lease.ts";

/** Name of the lease the loop runs under. */
export const RECONCILER_LEASE = "reconciler";

/** Options beyond the shared timings. */
export interface ReconcileLoopOptions {
  /** Pending instances are retried at least this often even without a capacity event. Default 30 000 ms. */
  pendingRetryMs?: number;
}

/**
 * The work that must happen once per fleet, not once per control plane: detecting lost nodes,
 * forgetting nodes lost for longer than the retention, advancing drains, and the periodic full
 * compare of desired and observed state (which also hands failing replicas to the reconciler,
 * which reschedules them). Every tick first acquires or renews the lease; only the
 * holder acts, and its writes carry the fencing token.
 */
export function createReconcileLoop(
  ctx: SchedulerContext,
  timings: SchedulerTimings,
  registry: NodeRegistry,
  enqueue: EnqueueMany,
  options: ReconcileLoopOptions = {},
) {
  const { redis, keys, logger } = ctx;
  // The lease outlives a few missed ticks, so a busy event loop does not hand it around.
  const lease = createLease(ctx, RECONCILER_LEASE, Math.max(3 * timings.livenessIntervalMs, 3000));
  const drains = createDrainController(ctx, enqueue);
  const pendingRetryMs = options.pendingRetryMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let lastFull = 0;
  let lastPendingRetry = 0;
  let ticking: Promise<void> = Promise.resolve();

  /** Lost nodes, forgetting long-lost ones, and drains: every liveness interval. */
  async function liveness(fence: Fence) {
    const now = ctx.now();
    const cutoff = now - timings.heartbeatTtlMs;
    // A node is lost one TTL after its last heartbeat; it is forgotten `retention` after that.
    const retention = timings.lostNodeRetentionMs;
    const forgetCutoff = retention > 0 ? cutoff - retention : -Infinity;
    const flat = await redis.zrangebyscore(keys.nodes(), "-inf", cutoff, "WITHSCORES");
    if (flat.length > 0) {
      const silent: Array<{ name: string; score: number }> = [];
      for (let i = 0; i + 1 < flat.length; i += 2) silent.push({ name: flat[i]!, score: Number(flat[i + 1]) });
      const states = await redis.mget(silent.map((n) => keys.node(n.name)));
      for (let i = 0; i < silent.length; i++) {
        const json = states[i];
        if (!json) continue;
        const state = (JSON.parse(json) as { state?: string }).state;
        if (state === "ready") await registry.markLost(silent[i]!.name, cutoff, fence);
        else if (silent[i]!.score <= forgetCutoff) await forgetNode(silent[i]!.name, state ?? "", forgetCutoff, fence);
      }
    }
    const nodeNames = await redis.zrange(keys.nodes(), 0, -1);
    if (nodeNames.length === 0) return;
    const records = await redis.mget(nodeNames.map((n) => keys.node(n)));
    for (let i = 0; i < nodeNames.length; i++) {
      const json = records[i];
      // A substring test first: parsing a thousand node records every second is waste.
      if (!json?.includes('"draining":true')) continue;
      if ((JSON.parse(json) as { state?: string }).state !== "ready") continue;
      await drains.step(nodeNames[i]!, fence);
    }
  }

  /** Deletes a node out of service for longer than the retention (fenced; a heartbeat wins). */
  async function forgetNode(name: string, state: string, silentSinceMs: number, fence: Fence) {
    const ms = timings.lostNodeRetentionMs;
    const span = ms >= 3_600_000 ? `${+(ms / 3_600_000).toFixed(2)} h` : `${+(ms / 1000).toFixed(1)} s`;
    try {
      await removeNode(ctx, name, {
        fence,
        silentSinceMs,
        message: () => `node ${name} forgotten: ${state} for more than ${span} (TEI_FLEET_LOST_NODE_RETENTION_MS); its agent registers anew if it comes back`,
      });
    } catch (err) {
      // Gone already (deleted by an operator meanwhile): nothing to forget.
      if (!(err instanceof NodeNotFoundError)) throw err;
    }
  }

  /** The full compare: every reconcile interval. */
  async function full() {
    const report = await compareDesiredAndObserved(ctx);
    const targets = new Set([...report.diverged, ...report.orphans]);
    // Failing replicas are looked at every compare: the reconciler moves those failing long enough.
    if (timings.rescheduleAfterMs > 0) for (const name of report.failing) targets.add(name);
    // Assignments that no record accounts for (a record written over, a crash between two
    // writes): give their room back; their instances are reconciled right after.
    for (const o of report.orphanAssignments) {
      logger.warn({ assignment: o.id, node: o.node, instance: o.instance }, "releasing an assignment no replica record accounts for");
      await runScript(
        redis,
        "release-replica",
        [
          keys.nodeClaims(o.node),
          keys.assignments(o.node),
          keys.assignmentsVersion(o.node),
          keys.replicas(o.instance),
          keys.routes(),
          keys.routesVersion(),
          keys.retiring(o.instance),
          keys.routesLog(),
        ],
        [o.id, keys.changesChannel(), o.node, "0"],
      );
      targets.add(o.instance);
    }
    if (report.staleRoutes.length > 0) {
      await runScript(redis, "remove-routes", [keys.routes(), keys.routesVersion(), keys.routesLog()], [keys.changesChannel(), ...report.staleRoutes]);
    }
    if (report.pending.length > 0) await redis.sadd(keys.pending(), ...report.pending);
    const now = ctx.now();
    if (now - lastPendingRetry >= pendingRetryMs) {
      lastPendingRetry = now;
      for (const name of await redis.smembers(keys.pending())) targets.add(name);
    }
    if (targets.size > 0) {
      logger.debug({ diverged: report.diverged.length, orphans: report.orphans.length }, "reconcile: enqueueing");
      await enqueue(targets);
    }
  }

  async function tick() {
    const token = await lease.acquire();
    if (!token) return;
    const fence = { lease: RECONCILER_LEASE, token };
    try {
      await liveness(fence);
      if (ctx.now() - lastFull >= timings.reconcileIntervalMs) {
        lastFull = ctx.now();
        await full();
      }
    } catch (err) {
      if (err instanceof StaleLeaseError) logger.warn("lost the reconciler lease mid-tick; another control plane acts now");
      else throw err;
    }
  }

  function schedule() {
    if (!running) return;
    timer = setTimeout(() => {
      ticking = tick()
        .catch((err) => logger.error({ err }, "reconcile tick failed"))
        .finally(schedule);
    }, timings.livenessIntervalMs);
  }

  return {
    start() {
      if (running) return;
      running = true;
      lastFull = ctx.now(); // the first full compare after one interval, not during start-up
      schedule();
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      await ticking;
      await lease.release().catch(() => undefined);
    },
    /** One tick now (tests). */
    tick,
  };
}
