/**
 * One control-plane worker process for the placement benchmark: the scheduler only (placement
 * worker and reconcile loop), no HTTP. Reports every placement to the parent over IPC in batches.
 * Env: BENCH_REDIS_URL, BENCH_PREFIX, BENCH_CONCURRENCY.
 */
import { Redis } from "ioredis";
import { pino } from "pino";
import { createScheduler } from "../src/scheduler/index.ts";
import { createKeySchema } from "../src/store/keys.ts";

const redis = new Redis(process.env.BENCH_REDIS_URL!, { maxRetriesPerRequest: 5 });
const keys = createKeySchema(process.env.BENCH_PREFIX!);
const logger = pino({ level: process.env.BENCH_LOG_LEVEL ?? "error" });
let buffer: Array<[string, number, number, number]> = [];
const scheduler = createScheduler({
  redis,
  keys,
  logger,
  concurrency: Number(process.env.BENCH_CONCURRENCY ?? 32),
  onPlaced: (p) => {
    buffer.push([p.instance, p.index, p.atMs, p.attempts]);
  },
});
await scheduler.start();
const flush = setInterval(() => {
  if (buffer.length === 0) return;
  process.send!({ placed: buffer });
  buffer = [];
}, 100);
process.send!({ ready: true });
process.on("message", async (message: unknown) => {
  if (message === "cpu") {
    process.send!({ cpu: process.cpuUsage() });
    return;
  }
  if (message !== "stop") return;
  clearInterval(flush);
  process.send!({ cpu: process.cpuUsage() });
  if (buffer.length > 0) process.send!({ placed: buffer });
  await scheduler.stop();
  await redis.quit();
  process.exit(0);
});
