import { isFailingStatus, statusOf } from "@tei-fleet/core";
import type { Instance } from "@tei-fleet/proto/fleet/v1";
import { isUnreadable } from "../store/instance-record.ts";
import type { SchedulerContext, SchedulerTimings } from "../store/scheduler-context.ts";
import { claimReplica } from "./claim.ts";
import type { NodeCache } from "./node-cache.ts";
import { createInstanceObserver, type ObservedReplica } from "./observed-replicas.ts";
import { replicaCount, replicaRequest, wantsRunning } from "./placement-request.ts";
import { createReplicaRetirement } from "./replica-retirement.ts";
import { avoidPhrase, decideReschedule, type ReschedulePolicy, type RescheduleState } from "./reschedule-policy.ts";
import { createRescheduleStore } from "./reschedule-store.ts";
import { createUnplacedRecords } from "./unplaced-records.ts";

/**
 * The `retiring:{name}` value of a replica that restart() asked to replace: a new one starts
 * first (a new id, new ports), then this one retires like any replaced replica.
 */
export const RESTART_MARK = "restart";

/** What one reconcile pass asks of its caller. */
export interface ReconcileOutcome {
  /** Run again after this many ms (a replaced replica waiting out the router grace period). */
  requeueAfterMs?: number;
  /** Resources were given back: instances waiting for room deserve another try. */
  released: boolean;
  /** Replicas placed in this pass. */
  placed: number;
}

/** Told to the onPlaced hook after each placement. */
export interface PlacementNotice {
  instance: string;
  index: number;
  node: string;
  gpuIds: number[];
  atMs: number;
  /** Claim attempts it took (more than 1: another scheduler claimed the chosen room first). */
  attempts: number;
}

/**
 * Takes one instance one step towards its spec (Kubernetes' reconcile(key)): reads the desired
 * spec and the observed replicas, places what is missing, retires what is extra or replaced,
 * and forgets what vanished with a lost node. Safe to run any number of times, in any process:
 * every write is a compare-and-set or an idempotent Lua script.
 *
 * Per replica index:
 * - no current replica: place one (the new revision of a spec change starts next to the old);
 *   when nothing fits and an old revision holds resources, the old one stops first;
 * - a current replica reports running: the old revision and drain originals of that index
 *   retire (route removed, process stopped after the router grace period);
 * - indexes at or beyond `replicas` retire;
 * - a current replica failing for long enough moves (reschedule-policy.ts): a replacement is
 *   placed on another node, then the failing one retires at once, as it serves nothing.
 */
export function createInstanceReconciler(
  ctx: SchedulerContext,
  cache: NodeCache,
  timings: Pick<SchedulerTimings, "routeGraceMs" | "rescheduleAfterMs" | "rescheduleAttempts" | "rescheduleIntervalMs">,
  salt: number,
  onPlaced?: (notice: PlacementNotice) => void,
  owns?: (node: string) => boolean,
) {
  const { redis, keys } = ctx;
  const policy: ReschedulePolicy = {
    afterMs: timings.rescheduleAfterMs,
    attempts: timings.rescheduleAttempts,
    intervalMs: timings.rescheduleIntervalMs,
  };
  const reschedules = createRescheduleStore(ctx, policy);
  const observe = createInstanceObserver(ctx);
  const { release, retire } = createReplicaRetirement(ctx, cache, timings);
  const unplacedRecords = createUnplacedRecords(ctx);

  /**
   * Reloads the whole view before a replica is declared pending, at most once a second; true when
   * it did. The view follows node records within ~50 ms, which is still too late for a create
   * that races a node's registration.
   */
  let lastFreshView = 0;
  let refreshing: Promise<void> | undefined;
  async function freshView(): Promise<boolean> {
    // Jobs failing together share one reload, and each decides again on it.
    if (refreshing) {
      await refreshing;
      return true;
    }
    if (ctx.now() - lastFreshView < 1000) return false;
    lastFreshView = ctx.now();
    refreshing = cache.refreshAll().finally(() => {
      refreshing = undefined;
    });
    await refreshing;
    return true;
  }

  async function reconcile(name: string): Promise<ReconcileOutcome> {
    const now = ctx.now();
    const { instance, observed, retiring, failures } = await observe(name);
    const outcome: ReconcileOutcome = { released: false, placed: 0 };
    // A record that cannot be decoded says nothing about what should run: its replicas are left
    // as they are (it was reported when read) until it is deleted, which releases them.
    if (instance && isUnreadable(instance)) return outcome;

    // Records of placements whose assignment is gone (lost node, released elsewhere): forget them.
    for (const r of observed) {
      if (r.replica.node !== "" && !r.live) await release(name, r);
    }
    const live = observed.filter((r) => r.live);
    // Retirement marks of replicas that are gone (released, lost with their node) are forgotten.
    const liveIds = new Set(live.map((r) => r.id));
    const staleMarks = Object.keys(retiring).filter((id) => !liveIds.has(id));
    if (staleMarks.length > 0) await redis.hdel(keys.retiring(name), ...staleMarks);

    if (!instance?.spec) {
      for (const r of live) await release(name, r);
      await redis.multi().del(keys.replicas(name)).del(keys.retiring(name)).del(keys.reschedules(name)).srem(keys.pending(), name).exec();
      return { ...outcome, released: live.length > 0 };
    }
    const spec = instance.spec;
    const revision = instance.revision;
    if (failures.failingSince.size + failures.moves.length + failures.notes.size > 0) {
      await reschedules.tidy(name, failures, live, now);
    }
    const wanted = wantsRunning(spec) ? replicaCount(spec) : 0;
    let wait = Infinity;
    const later = (ms: number) => {
      if (ms > 0) wait = Math.min(wait, ms);
    };

    const unplaced = new Map(observed.filter((r) => r.replica.node === "").map((r) => [r.id, r]));
    const claimedIds = new Set(live.map((r) => r.id));
    const satisfied = new Set<number>();
    let pending = false;

    // Retirements under way finish whatever else happens: their routes are already gone.
    const active: ObservedReplica[] = [];
    for (const r of live) {
      if (retiring[r.id] !== undefined && retiring[r.id] !== RESTART_MARK) later(await retire(name, r, retiring[r.id], now));
      else active.push(r);
    }

    for (let index = 0; index < wanted; index++) {
      const ofIndex = active.filter((r) => r.replica.index === index);
      // Not current: an older revision, a drain original allowed to move, a replica to restart.
      const isCurrent = (r: ObservedReplica) => r.replica.revision === revision && !r.moving && retiring[r.id] !== RESTART_MARK;
      let current = ofIndex.filter(isCurrent);
      const old = ofIndex.filter((r) => !isCurrent(r));

      if (current.length > 1) {
        // Two workers raced on one index (a recovered job, a reschedule): keep the one furthest
        // along, a failing one last.
        const rank = (r: ObservedReplica) => (statusOf(r.replica) === "running" ? 0 : isFailingStatus(r.replica.status) ? 2 : 1);
        current.sort((a, b) => rank(a) - rank(b));
        for (const extra of current.slice(1)) later(await retire(name, extra, retiring[extra.id], now));
        current = current.slice(0, 1);
      }

      if (current.length === 0) {
        const peers = active.filter((r) => r.replica.index !== index).map((r) => ({ node: r.replica.node, gpuIds: r.replica.gpuIds }));
        const avoid = new Set(old.filter((r) => r.moving).map((r) => r.replica.node));
        const request = replicaRequest(spec, index, peers, avoid);
        let result = await claimReplica(ctx, cache, spec, request, revision, (id) => claimedIds.has(id), salt, owns);
        if (!result.placed && !result.conflicts && (await freshView())) {
          // The view may be behind (a node that joined a moment ago): decide again on a fresh one.
          result = await claimReplica(ctx, cache, spec, request, revision, (id) => claimedIds.has(id), salt, owns);
        }
        const oldRevision = old.filter((r) => r.replica.revision !== revision || retiring[r.id] === RESTART_MARK);
        if (!result.placed && !result.conflicts && oldRevision.length > 0) {
          // No room for old and new side by side: stop the old one first, then place.
          for (const r of oldRevision) await release(name, r);
          outcome.released = true;
          result = await claimReplica(ctx, cache, spec, request, revision, (id) => claimedIds.has(id), salt, owns);
        }
        if (result.placed) {
          outcome.placed++;
          satisfied.add(index);
          claimedIds.add(result.facts.id);
          unplaced.delete(result.facts.id);
          // The instance.placed event was written by the claim script, atomically with the claim.
          onPlaced?.({ instance: name, index, node: result.facts.node.name, gpuIds: result.facts.gpuIds, atMs: ctx.now(), attempts: result.attempts });
        } else if (result.reason === "replica already placed") {
          later(100); // another worker holds it; look again shortly
        } else if (old.length === 0 || oldRevision.length > 0) {
          pending = true;
          await unplacedRecords.markPending(name, index, revision, result.reason, unplaced);
        } else {
          // A drain original keeps serving while nothing else fits; the drain deadline bounds it.
          ctx.logger.info({ instance: name, index, reason: result.reason }, "no room to move replica yet");
        }
        if (!result.placed && result.conflicts && result.reason !== "replica already placed") later(500);
      } else {
        satisfied.add(index);
        if (statusOf(current[0]!.replica) === "running") {
          for (const r of old) later(await retire(name, r, retiring[r.id], now));
        } else if (policy.afterMs > 0 && isFailingStatus(current[0]!.replica.status)) {
          const peers = active.filter((r) => r.replica.index !== index).map((r) => ({ node: r.replica.node, gpuIds: r.replica.gpuIds }));
          later(await reschedule(name, spec, current[0]!, retiring[current[0]!.id], peers, failures, claimedIds, outcome, now));
        }
      }
    }

    // Scale-down and stop: every index past the wanted count retires.
    for (const r of active) {
      if (r.replica.index >= wanted) later(await retire(name, r, retiring[r.id], now));
    }

    // Placeholders that no longer describe a missing replica go away; stopped instances keep one per index.
    for (const r of unplaced.values()) {
      const keep =
        r.replica.revision === revision &&
        r.replica.index < replicaCount(spec) &&
        !satisfied.has(r.replica.index) &&
        statusOf(r.replica) === (wanted === 0 ? "stopped" : "pending");
      if (!keep) await unplacedRecords.forget(name, r);
    }
    if (wanted === 0) await unplacedRecords.markStopped(name, spec, revision);
    // The pending set is touched only when it may change: most passes place or find all placed.
    const wasPending = observed.some((r) => r.replica.node === "" && statusOf(r.replica) === "pending");
    if (pending) await redis.sadd(keys.pending(), name);
    else if (wasPending) await redis.srem(keys.pending(), name);
    if (live.some((r) => r.replica.index >= wanted)) outcome.released = true;
    if (wait !== Infinity) outcome.requeueAfterMs = wait;
    return outcome;
  }

  /**
   * Moves a failing replica when the policy says so: a replacement is placed away from the nodes
   * it failed on, then the failing one retires through the same path as a replaced replica
   * (without waiting for the replacement to run: the failing one serves nothing). When nothing
   * else fits it stays, and the reason is announced. Returns when to look again (0: no need).
   */
  async function reschedule(
    name: string,
    spec: NonNullable<Instance["spec"]>,
    failing: ObservedReplica,
    retiringSince: string | undefined,
    peers: Array<{ node: string; gpuIds: number[] }>,
    failures: RescheduleState,
    claimedIds: Set<string>,
    outcome: ReconcileOutcome,
    now: number,
  ): Promise<number> {
    const since = await reschedules.failingSince(name, failures, failing, now);
    const decision = decideReschedule(policy, failures, failing.replica, since, now);
    if (decision.kind === "wait") return decision.ms;
    if (decision.kind === "give-up") {
      await reschedules.announce(name, failing, decision.note, now);
      return decision.until - now;
    }
    if (spec.node) {
      await reschedules.announce(name, failing, `pinned to node ${spec.node}: it cannot move`, now);
      return policy.afterMs;
    }
    const { index, revision } = failing.replica;
    const request = replicaRequest(spec, index, peers, decision.avoid);
    // Ids of recent reschedules stay taken: their records are keyed by the replaced replica's id.
    const inUse = (id: string) => claimedIds.has(id) || failures.moves.some((m) => m.id === id);
    // No fresh view when nothing fits (unlike a pending replica): this is retried on every full
    // compare, and the view follows node records within moments anyway.
    const result = await claimReplica(ctx, cache, spec, request, revision, inUse, salt, owns);
    if (!result.placed) {
      if (result.conflicts) return 500;
      await reschedules.announce(name, failing, `cannot move: replacement pending: ${result.reason} ${avoidPhrase(decision.avoid)}; tried again later`, now);
      return policy.afterMs;
    }
    outcome.placed++;
    claimedIds.add(result.facts.id);
    onPlaced?.({ instance: name, index, node: result.facts.node.name, gpuIds: result.facts.gpuIds, atMs: ctx.now(), attempts: result.attempts });
    await reschedules.recordMove(name, failing, result.facts.node.name, since, decision.attempt, now);
    return retire(name, failing, retiringSince, now);
  }

  return { reconcile };
}

/** The reconciler of one instance at a time. */
export type InstanceReconciler = ReturnType<typeof createInstanceReconciler>;
