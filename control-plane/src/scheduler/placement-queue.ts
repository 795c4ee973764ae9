import { Queue, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type { SchedulerContext } from "./context.ts";
import type { InstanceReconciler } from "./instance-reconciler.ts";

/** Name of the BullMQ queue (under the key schema's BullMQ prefix). */
export const PLACEMENT_QUEUE = "placement";

/** Options of the placement queue and its worker. */
export interface PlacementQueueOptions {
  /** Jobs processed at once per process. Default 32. */
  concurrency?: number;
  /** Attempts per job before it is given up (the reconcile loop re-enqueues later). Default 5. */
  attempts?: number;
  /** First retry delay, doubled each attempt. Default 200 ms. */
  backoffMs?: number;
  /** BullMQ stalled-job check interval; a job whose worker died is retried after it. Default 10 000 ms. */
  stalledIntervalMs?: number;
}

/** Job payload: only the key. The worker reads the current state (level-triggered). */
interface PlacementJob {
  instance: string;
}

/**
 * The placement work queue. BullMQ is the queue, never the source of truth: a job only names an
 * instance, and processing it reconciles that instance from Redis. Job ids are
 * `{name}-r{revision}`, so enqueueing one revision twice while it waits is a no-op; retries use
 * exponential backoff; stalled jobs (their worker died) are retried by BullMQ's stall check.
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
    removeOnComplete: true,
    removeOnFail: { count: 1000 },
  };
  let worker: Worker<PlacementJob> | undefined;

  /** Delayed re-runs share an id per 250 ms slot: a burst of requests for one moment is one job. */
  function addLater(instance: string, delayMs: number, runningJobId?: string) {
    let slot = Math.ceil((ctx.now() + delayMs) / 250);
    // A job re-queuing itself must not reuse its own id: adding an existing id is a no-op.
    if (`${instance}-at${slot}` === runningJobId) slot++;
    return queue.add("place", { instance }, { ...jobOptions, delay: delayMs, jobId: `${instance}-at${slot}` });
  }

  async function enqueue(instances: Iterable<string>): Promise<void> {
    const names = [...new Set(instances)];
    if (names.length === 0) return;
    // The revision makes the job id; reading it costs one pipelined GET per instance.
    const pipe = redis.pipeline();
    for (const name of names) pipe.get(keys.instance(name));
    const results = (await pipe.exec()) ?? [];
    const jobs = names.map((name, i) => {
      const json = results[i]?.[1] as string | null;
      const revision = json ? /"revision":"?(\d+)/.exec(json)?.[1] ?? "0" : "gone";
      return { name: "place", data: { instance: name }, opts: { ...jobOptions, jobId: `${name}-r${revision}` } };
    });
    for (let i = 0; i < jobs.length; i += 1000) await queue.addBulk(jobs.slice(i, i + 1000));
  }

  return {
    enqueue,
    async enqueueLater(instance, delayMs) {
      await addLater(instance, delayMs);
    },
    async startWorker(reconciler, onReleased) {
      worker = new Worker<PlacementJob>(PLACEMENT_QUEUE, async (job: Job<PlacementJob>) => {
        const outcome = await reconciler.reconcile(job.data.instance);
        if (outcome.requeueAfterMs !== undefined) {
          await addLater(job.data.instance, outcome.requeueAfterMs, job.id);
        }
        if (outcome.released) onReleased();
        return outcome.placed;
      }, {
        connection: connection(true),
        prefix: keys.bullPrefix(),
        concurrency: options.concurrency ?? 32,
        stalledInterval: options.stalledIntervalMs ?? 10_000,
        maxStalledCount: 3,
      });
      worker.on("error", (err) => logger.warn({ err: err.message }, "placement worker error"));
      worker.on("failed", (job, err) => logger.warn({ instance: job?.data.instance, err: err.message }, "placement job failed"));
    },
    async close() {
      await worker?.close();
      await queue.close();
      await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
