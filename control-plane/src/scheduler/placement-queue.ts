import { createHash } from "node:crypto";
import { type Job, Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { closeConnection, withinTime } from "../store/close-connection.ts";
import { readInstanceRevision } from "../store/instance-record.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import { createBatchLoader } from "./batch-loader.ts";
import type { InstanceReconciler } from "./instance-reconciler.ts";

/** Name of the BullMQ queue (under the key schema's BullMQ prefix). */
export const PLACEMENT_QUEUE = "placement";

/** Options of the placement queue and its worker. */
export interface PlacementQueueOptions {
  /** Jobs processed at once per process (a bulk job holds up to BATCH_SIZE instances). Default 32. */
  concurrency?: number;
  /** Attempts per job before it is given up (the reconcile loop re-enqueues later). Default 5. */
  attempts?: number;
  /** First retry delay, doubled each attempt. Default 200 ms. */
  backoffMs?: number;
  /** BullMQ stalled-job check interval; a job whose worker died is retried after it. Default 10 000 ms. */
  stalledIntervalMs?: number;
}

/**
 * Job payload: only keys. The worker reads the current state (level-triggered). Instances
 * enqueued together (a burst of creates in one event-loop turn, a lost node's instances, the full
 * compare) travel up to BATCH_SIZE to a job, so the queue's per-job cost is paid once per batch.
 */
interface PlacementJob {
  instance?: string;
  instances?: string[];
}

/** Most instances one bulk job reconciles. */
export const BATCH_SIZE = 64;

/**
 * The placement work queue. BullMQ is the queue, never the source of truth: a job only names
 * instances, and processing it reconciles them from Redis. Job ids are `{name}-r{revision}` for a
 * lone instance and `batch-{digest of the names and revisions}` for a batch, so enqueueing the
 * same revision(s) again while the job waits is a no-op (ids never contain ':' and are never all
 * digits); retries use exponential backoff; stalled jobs (their worker died) are retried by
 * BullMQ's stall check. A job id met while that job runs is a no-op too: the full compare
 * re-enqueues whatever it leaves behind.
 */
export interface PlacementQueue {
  enqueue(instances: Iterable<string>): Promise<void>;
  /** Enqueues again after `delayMs` (waiting out a router grace period). */
  enqueueLater(instance: string, delayMs: number): Promise<void>;
  /** Starts processing in this process. */
  startWorker(reconciler: InstanceReconciler, onReleased: () => void): Promise<void>;
  close(): Promise<void>;
}

/** Creates the queue on duplicates of the context's client (BullMQ needs its own connections). */
export function createPlacementQueue(ctx: SchedulerContext, options: PlacementQueueOptions = {}): PlacementQueue {
  const { redis, keys, logger } = ctx;
  const connections: Redis[] = [];
  const connection = (blocking: boolean) => {
    const c = redis.duplicate(blocking ? { maxRetriesPerRequest: null } : {});
    c.on("error", (err) => logger.warn({ err: err.message }, "placement queue connection error"));
    connections.push(c);
    return c;
  };
  const queue = new Queue<PlacementJob>(PLACEMENT_QUEUE, { connection: connection(false), prefix: keys.bullPrefix() });
  queue.on("error", (err) => logger.warn({ err: err.message }, "placement queue error"));
  const jobOptions = {
    attempts: options.attempts ?? 5,
    backoff: { type: "exponential" as const, delay: options.backoffMs ?? 200 },
    // Finished jobs go at once: a kept job would turn the next enqueue of its id into a no-op.
    removeOnComplete: true,
    removeOnFail: true,
  };
  let worker: Worker<PlacementJob> | undefined;

  /** Delayed re-runs share an id per 250 ms slot: a burst of requests for one moment is one job. */
  function addLater(instance: string, delayMs: number, runningJobId?: string) {
    let slot = Math.ceil((ctx.now() + delayMs) / 250);
    // A job re-queuing itself must not reuse its own id: adding an existing id is a no-op.
    if (`${instance}-at${slot}` === runningJobId) slot++;
    return queue.add("place", { instance }, { ...jobOptions, delay: delayMs, jobId: `${instance}-at${slot}` });
  }

  /**
   * Enqueues made in the same turn of the event loop (a burst of creates, a node's instances)
   * are written together: one pipelined read of their revisions and one addBulk.
   */
  const coalesced = createBatchLoader<string, void>(async (names) => {
    await enqueueNow(names);
    return names.map(() => undefined);
  }, 4096);

  async function enqueue(instances: Iterable<string>): Promise<void> {
    await Promise.all([...new Set(instances)].map((name) => coalesced(name)));
  }

  async function enqueueNow(instances: string[]): Promise<void> {
    const names = [...new Set(instances)];
    if (names.length === 0) return;
    // The revision makes the job id; reading it costs one pipelined GET per instance, decoded
    // by the store's own reader (instance-record.ts) so it is the revision the store means.
    const pipe = redis.pipeline();
    for (const name of names) pipe.get(keys.instance(name));
    const results = (await pipe.exec()) ?? [];
    const keyed = names.map((name, i) => {
      const json = results[i]?.[1] as string | null;
      return `${name}-r${json ? readInstanceRevision(json) : "gone"}`;
    });
    if (names.length === 1) {
      await queue.add("place", { instance: names[0] }, { ...jobOptions, jobId: keyed[0] });
      return;
    }
    // Bulk: one job per BATCH_SIZE instances. Its id is a digest of the instances and revisions
    // it covers, so the same bulk enqueued twice while waiting is still one job.
    const jobs = [];
    for (let i = 0; i < names.length; i += BATCH_SIZE) {
      const digest = createHash("sha1")
        .update(keyed.slice(i, i + BATCH_SIZE).join("\n"))
        .digest("hex")
        .slice(0, 20);
      jobs.push({ name: "place-batch", data: { instances: names.slice(i, i + BATCH_SIZE) }, opts: { ...jobOptions, jobId: `batch-${digest}` } });
    }
    for (let i = 0; i < jobs.length; i += 500) await queue.addBulk(jobs.slice(i, i + 500));
  }

  return {
    enqueue,
    async enqueueLater(instance, delayMs) {
      await addLater(instance, delayMs);
    },
    async startWorker(reconciler, onReleased) {
      const one = async (instance: string, jobId: string | undefined) => {
        const outcome = await reconciler.reconcile(instance);
        if (outcome.requeueAfterMs !== undefined) await addLater(instance, outcome.requeueAfterMs, jobId);
        if (outcome.released) onReleased();
        return outcome.placed;
      };
      worker = new Worker<PlacementJob>(
        PLACEMENT_QUEUE,
        async (job: Job<PlacementJob>) => {
          if (job.data.instance) return one(job.data.instance, job.id);
          // A batch: reconcile all at once (their reads share round trips); if any failed, the
          // whole job is retried, and re-running the ones that succeeded is a cheap no-op.
          const results = await Promise.allSettled((job.data.instances ?? []).map((name) => one(name, job.id)));
          const failed = results.find((r) => r.status === "rejected");
          if (failed) throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
          return results.reduce((sum, r) => sum + (r.status === "fulfilled" ? r.value : 0), 0);
        },
        {
          connection: connection(true),
          prefix: keys.bullPrefix(),
          concurrency: options.concurrency ?? 32,
          stalledInterval: options.stalledIntervalMs ?? 10_000,
          maxStalledCount: 3,
        },
      );
      worker.on("error", (err) => logger.warn({ err: err.message }, "placement worker error"));
      worker.on("failed", (job, err) =>
        logger.warn({ instance: job?.data.instance, instances: job?.data.instances?.length, err: err.message }, "placement job failed"),
      );
    },
    async close() {
      // Active jobs get a few seconds to finish; a job cut short is retried elsewhere (jobs are
      // idempotent), so shutting down never waits on a stuck one.
      if (worker && !(await withinTime(worker.close(), 5000))) await withinTime(worker.close(true), 1000);
      await withinTime(queue.close(), 2000);
      await Promise.all(connections.map((c) => closeConnection(c)));
    },
  };
}
