/**
 * The control plane of the watch benchmark (watch-bench.ts), in a process of its own so that its
 * CPU time is measured alone: the API and RouteService on a free port, the scheduler without
 * placement worker or reconcile loop (the benchmark writes route changes itself). Tells the
 * parent its URL over IPC and answers "cpu" with process.cpuUsage().
 * Env: BENCH_REDIS_URL, BENCH_PREFIX, BENCH_JOIN_TOKEN.
 */
import { pino } from "pino";
import { startControlPlane } from "../src/index.ts";

const cp = await startControlPlane({
  redisUrl: process.env.BENCH_REDIS_URL!,
  prefix: process.env.BENCH_PREFIX!,
  host: "127.0.0.1",
  port: 0,
  joinToken: process.env.BENCH_JOIN_TOKEN!,
  adminToken: `${process.env.BENCH_JOIN_TOKEN!}-admin`,
  logger: pino({ level: process.env.BENCH_LOG_LEVEL ?? "error" }),
  scheduler: { worker: false, reconciler: false },
});
process.send!({ url: cp.url });
process.on("message", async (message: unknown) => {
  if (message === "cpu") process.send!({ cpu: process.cpuUsage() });
  if (message !== "stop") return;
  await cp.close();
  process.exit(0);
});
