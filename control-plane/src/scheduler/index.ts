import { create } from "@bufbuild/protobuf";
import { statusOf } from "@tei-fleet/core";
import {
  type HeartbeatRequest,
  type HeartbeatResponse,
  type InstanceSpec,
  type Node,
  type PlannedReplica,
  type RegisterResponse,
  RegisterResponseSchema,
} from "@tei-fleet/proto/fleet/v1";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { watchAssignments } from "../agents/assignment-feed.ts";
import { createHeartbeatHandler } from "../agents/heartbeat.ts";
import { createNodeOperations, type NodeOperations } from "../nodes/node-operations.ts";
import { createNodeRegistry } from "../nodes/node-registry.ts";
import { createRouteTable, type RouteTableService } from "../routes/route-table.ts";
import { createChangesBus } from "../store/changes-bus.ts";
import { closeConnection } from "../store/close-connection.ts";
import type { KeySchema } from "../store/keys.ts";
import { defineScripts } from "../store/lua-scripts.ts";
import { DEFAULT_TIMINGS, type SchedulerContext, type SchedulerTimings } from "../store/scheduler-context.ts";
import { checkSpec, type SpecCheck } from "./check-spec.ts";
import { createInstanceReconciler, type PlacementNotice, RESTART_MARK } from "./instance-reconciler.ts";
import { createNodeCache } from "./node-cache.ts";
import { createPlacementQueue } from "./placement-queue.ts";
import { planPlacements } from "./plan.ts";
import { createReconcileLoop } from "./reconcile-loop.ts";
import { parseReplicas } from "./replica-records.ts";
import { createWorkerShards } from "./worker-shards.ts";

export { StaleEpochError } from "../agents/assignment-feed.ts";
export { NodeNotFoundError } from "../nodes/node-operations.ts";
export { DEFAULT_TIMINGS } from "../store/scheduler-context.ts";
export type { PlacementNotice } from "./instance-reconciler.ts";
export { defaultModelMemoryMb } from "./model-memory.ts";

/** Options of createScheduler. Every timing has a default in DEFAULT_TIMINGS. */
export interface SchedulerOptions extends Partial<SchedulerTimings> {
  redis: Redis;
  keys: KeySchema;
  logger: Logger;
  /** Process placement jobs in this process. Default true. */
  worker?: boolean;
  /** Compete for the reconciler lease (lost nodes, drains, full compare). Default true. */
  reconciler?: boolean;
  /** Placement jobs processed at once (a bulk job reconciles up to 64 instances). Default 32. */
  concurrency?: number;
  /** Pending instances are retried at least this often. Default 30 000 ms. */
  pendingRetryMs?: number;
  /** Clock, replaceable in tests. Default Date.now. */
  now?: () => number;
  /** Called in the worker process after each replica is placed (metrics, benchmarks). */
  onPlaced?: (placement: PlacementNotice) => void;
}

/** The agent protocol as plain functions (connect.ts wraps them as AgentService). */
export interface AgentApi {
  register(node: Node): Promise<RegisterResponse>;
  heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse>;
  watchAssignments(node: string, epoch: bigint, signal: AbortSignal): ReturnType<typeof watchAssignments>;
  /** False when the node/epoch is not current (nothing done). */
  leave(node: string, epoch: bigint): Promise<boolean>;
}

/** The scheduling and node side of the control plane. */
export interface Scheduler {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Asks the placement worker to reconcile this instance (after create, update, delete, start, stop). */
  enqueue(instanceName: string): Promise<void>;
  enqueueMany(instanceNames: Iterable<string>): Promise<void>;
  /** Dry run: where these specs would go. Changes nothing. */
  plan(specs: InstanceSpec[]): Promise<PlannedReplica[]>;
  /** Refuses only what can never be placed (see check-spec.ts). */
  checkSpec(spec: InstanceSpec): Promise<SpecCheck>;
  /** Replaces every replica with a new process, each new one running before its original stops. */
  restart(instanceName: string): Promise<void>;
  readonly agents: AgentApi;
  readonly nodes: NodeOperations;
  readonly routes: RouteTableService;
  readonly timings: SchedulerTimings;
}

/**
 * Creates the scheduler. Several control-plane processes may run one each against the same
 * Redis: placement jobs spread over their workers (claims are atomic Lua), and the reconcile
 * loop runs in whichever holds the lease.
 */
export function createScheduler(options: SchedulerOptions): Scheduler {
  const timings: SchedulerTimings = {
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULT_TIMINGS.heartbeatIntervalMs,
    heartbeatTtlMs: options.heartbeatTtlMs ?? DEFAULT_TIMINGS.heartbeatTtlMs,
    reconcileIntervalMs: options.reconcileIntervalMs ?? DEFAULT_TIMINGS.reconcileIntervalMs,
    livenessIntervalMs: options.livenessIntervalMs ?? DEFAULT_TIMINGS.livenessIntervalMs,
    routeGraceMs: options.routeGraceMs ?? DEFAULT_TIMINGS.routeGraceMs,
    lostNodeRetentionMs: options.lostNodeRetentionMs ?? DEFAULT_TIMINGS.lostNodeRetentionMs,
    ejectionQuorum: options.ejectionQuorum ?? DEFAULT_TIMINGS.ejectionQuorum,
    ejectionReportWindowMs: options.ejectionReportWindowMs ?? DEFAULT_TIMINGS.ejectionReportWindowMs,
    rescheduleAfterMs: options.rescheduleAfterMs ?? DEFAULT_TIMINGS.rescheduleAfterMs,
    rescheduleAttempts: options.rescheduleAttempts ?? DEFAULT_TIMINGS.rescheduleAttempts,
    rescheduleIntervalMs: options.rescheduleIntervalMs ?? DEFAULT_TIMINGS.rescheduleIntervalMs,
  };
  // A connection of its own with auto-pipelining: the scheduler issues many small commands from
  // concurrent jobs and heartbeats, and batching those of one tick into one write is most of
  // its throughput (one syscall per command was the bottleneck in the benchmark).
  const redis = options.redis.duplicate({ enableAutoPipelining: true });
  redis.on("error", (err) => options.logger.warn({ err: err.message }, "scheduler redis connection error"));
  defineScripts(redis);
  const ctx: SchedulerContext = {
    redis,
    keys: options.keys,
    logger: options.logger,
    now: options.now ?? Date.now,
  };
  const bus = createChangesBus(ctx.redis, ctx.keys, ctx.logger);
  const queue = createPlacementQueue(ctx, { concurrency: options.concurrency });
  const enqueueMany = (names: Iterable<string>) => queue.enqueue(names);
  const registry = createNodeRegistry(ctx, enqueueMany);
  const nodes = createNodeOperations(ctx, enqueueMany);
  const heartbeats = createHeartbeatHandler(ctx, enqueueMany);
  const routes = createRouteTable(ctx, bus, { ejectionQuorum: timings.ejectionQuorum, ejectionReportWindowMs: timings.ejectionReportWindowMs });
  const salt = Math.floor(Math.random() * 2 ** 31);
  // Room appeared in this worker's view: instances waiting for it get another try (at most
  // twice a second, however many nodes join at once).
  let pendingRetry: NodeJS.Timeout | undefined;
  const retryPending = () => {
    if (pendingRetry || !started) return;
    pendingRetry = setTimeout(() => {
      pendingRetry = undefined;
      ctx.redis
        .smembers(ctx.keys.pending())
        .then(enqueueMany)
        .catch((err) => ctx.logger.warn({ err: (err as Error).message }, "re-enqueue of pending instances failed"));
    }, 500);
  };
  const cache = createNodeCache(ctx, bus, { onSchedulable: retryPending }, salt);
  const loop = createReconcileLoop(ctx, timings, registry, enqueueMany, { pendingRetryMs: options.pendingRetryMs });
  const shards = createWorkerShards(ctx);
  let started = false;

  const agents: AgentApi = {
    async register(node) {
      const { epoch } = await registry.register(node);
      return create(RegisterResponseSchema, {
        epoch,
        heartbeatIntervalMs: timings.heartbeatIntervalMs,
        heartbeatTtlMs: timings.heartbeatTtlMs,
      });
    },
    heartbeat: (request) => heartbeats.heartbeat(request),
    watchAssignments: (node, epoch, signal) => watchAssignments(ctx, bus, heartbeats, node, epoch, signal),
    leave: (node, epoch) => registry.leave(node, epoch),
  };

  return {
    async start() {
      if (started) return;
      started = true;
      await bus.start();
      if (options.worker ?? true) {
        await cache.start();
        await shards.start();
        const reconciler = createInstanceReconciler(ctx, cache, timings, salt, options.onPlaced, shards.owns);
        // Released resources may let a pending instance fit: give them all another try.
        await queue.startWorker(reconciler, retryPending);
      }
      if (options.reconciler ?? true) loop.start();
      ctx.logger.info({ timings, worker: options.worker ?? true, reconciler: options.reconciler ?? true }, "scheduler started");
    },
    async stop() {
      if (started) {
        started = false;
        await loop.stop();
        cache.stop();
        if (pendingRetry) clearTimeout(pendingRetry);
        pendingRetry = undefined;
        await shards.stop();
      }
      await queue.close();
      await routes.close();
      await bus.stop();
      await closeConnection(redis);
    },
    enqueue: (name) => queue.enqueue([name]),
    enqueueMany,
    plan: (specs) => planPlacements(ctx, specs),
    checkSpec: (spec) => checkSpec(ctx, spec),
    async restart(name) {
      // Rolling: each running replica gets a replacement (new process, new ports) that must run
      // before the original leaves the route table and stops, so a restart loses no traffic.
      const replicas = parseReplicas(await ctx.redis.hgetall(ctx.keys.replicas(name)));
      const marks = replicas.filter((r) => r.replica.node && statusOf(r.replica) !== "stopping").flatMap((r) => [r.id, RESTART_MARK]);
      if (marks.length > 0) await ctx.redis.hset(ctx.keys.retiring(name), ...marks);
      await queue.enqueue([name]);
    },
    agents,
    nodes,
    routes,
    timings,
  };
}
