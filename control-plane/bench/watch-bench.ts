/**
 * Benchmark of the route table watch (issue 10, item 3): what one route change costs with the
 * full-table WatchRoutes that routers used, and with the incremental WatchRouteChanges, in the
 * same run, at 8,000 and 50,000 routes. Real redis-server, the control plane in a process of its
 * own (watch-bench-server.ts), 20 watchers in this process, each a Connect client over HTTP/1.1
 * with its own connection, as routers watch.
 *
 * A change is a replica becoming ready, as a heartbeat writes it (the merge-replica script: its
 * route in, its instance's unready entry out). For each change: the bytes each watcher received,
 * the control plane's CPU time (process.cpuUsage around the measured changes, divided by their
 * number), and the time from the write until all 20 watchers hold the new route (p50, p99). The
 * full-table watch costs a whole table per change and router, so it runs fewer changes.
 *
 *   pnpm bench:watch [--sizes 8000,50000] [--watchers 20] [--changes 200] [--full-changes 30,8]
 */
import { type ChildProcess, fork } from "node:child_process";
import { Agent, type AgentOptions } from "node:http";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { create, toJsonString } from "@bufbuild/protobuf";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { followWatch, type WatchPoint } from "@tei-fleet/core/watch";
import { InstanceSchema, ReplicaSchema, RouteSchema, RouteService, type WatchEvent } from "@tei-fleet/proto/fleet/v1";
import { Redis } from "ioredis";
import { pino } from "pino";
import { startRedisServer } from "../../test/harness/redis-server.ts";
import { EVENT_STREAM_MAXLEN } from "../src/store/event-log.ts";
import { createKeySchema, type KeySchema } from "../src/store/keys.ts";
import { defineScripts, runScript } from "../src/store/lua-scripts.ts";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const SIZES = arg("sizes", "8000,50000").split(",").map(Number);
const WATCHERS = Number(arg("watchers", "20"));
const CHANGES = Number(arg("changes", "200"));
const FULL_CHANGES = arg("full-changes", "30,8").split(",").map(Number);
/** Changes before the measured ones: the incremental watch's JIT warm-up; a full-table change is costly, so one. */
const WARMUP = { full: 1, incremental: 3 };
const TOKEN = "watch-bench-join-token";
const MODEL = "BAAI/bge-small-en-v1.5";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;

/** An HTTP agent that counts the bytes its connections received: what the control plane sent this watcher. */
class CountingAgent extends Agent {
  readonly #sockets: Socket[] = [];
  constructor(options: AgentOptions) {
    super(options);
  }
  override createConnection(...args: Parameters<Agent["createConnection"]>): ReturnType<Agent["createConnection"]> {
    const socket = super.createConnection(...args);
    this.#sockets.push(socket as Socket);
    return socket;
  }
  get bytesRead(): number {
    return this.#sockets.reduce((sum, s) => sum + s.bytesRead, 0);
  }
}

/** One watching router stand-in: does it hold a route yet, and how many bytes it got. */
interface Watcher {
  readonly ready: Promise<void>;
  /** Resolves with the time (performance.now) the watcher first held route `id`. */
  arrival(id: string): Promise<number>;
  bytes(): number;
  close(): void;
}

function watcherBase(baseUrl: string) {
  const agent = new CountingAgent({ keepAlive: true });
  const auth: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${TOKEN}`);
    return next(req);
  };
  const client = createClient(RouteService, createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [auth], nodeOptions: { agent } }));
  const waiting = new Map<string, (at: number) => void>();
  const abort = new AbortController();
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => {
    resolveReady = r;
  });
  /** After each table or event: settles the arrivals that the watcher's copy now shows. */
  const check = (holds: (id: string) => boolean) => {
    resolveReady();
    const now = performance.now();
    for (const [id, resolve] of waiting)
      if (holds(id)) {
        waiting.delete(id);
        resolve(now);
      }
  };
  const watcher = (): Watcher => ({
    ready,
    arrival: (id) => new Promise((resolve) => waiting.set(id, resolve)),
    bytes: () => agent.bytesRead,
    close: () => {
      abort.abort();
      agent.destroy();
    },
  });
  return { client, check, abort, watcher };
}

/** A router as it watched before: WatchRoutes, a whole table per change. */
function fullTableWatcher(baseUrl: string): Watcher {
  const { client, check, abort, watcher } = watcherBase(baseUrl);
  void (async () => {
    try {
      for await (const res of client.watchRoutes({ knownVersion: 0n }, { signal: abort.signal })) {
        const routes = res.table?.routes ?? [];
        check((id) => routes.some((r) => r.assignmentId === id));
      }
    } catch {
      /* closed */
    }
  })();
  return watcher();
}

/** A router as it watches now: WatchRouteChanges into a mirror (@tei-fleet/core/watch). */
function incrementalWatcher(baseUrl: string): Watcher {
  const { client, check, abort, watcher } = watcherBase(baseUrl);
  async function* open(position: WatchPoint | undefined, signal: AbortSignal): AsyncIterable<WatchEvent> {
    for await (const res of client.watchRouteChanges({ position }, { signal })) if (res.event) yield res.event;
  }
  const follower = followWatch({
    open: (position, signal) => open(position, AbortSignal.any([signal, abort.signal])),
    log: pino({ level: "error" }),
    onChange: (mirror) => check((id) => mirror.get("route", id) !== undefined),
  });
  abort.signal.addEventListener("abort", () => follower.stop());
  return watcher();
}

/** Writes the fleet: `routes` running instances with a route each, and `flips` starting ones (unready). */
async function seed(redis: Redis, keys: KeySchema, routes: number, flips: number) {
  await redis.flushall();
  const record = (name: string) => toJsonString(InstanceSchema, create(InstanceSchema, { spec: { name, modelId: MODEL }, revision: 1n, createdAtMs: 1n }));
  for (let from = 0; from < routes; from += 1000) {
    const pipe = redis.pipeline();
    for (let j = from; j < Math.min(routes, from + 1000); j++) {
      const name = `inst-${j}`;
      const route = create(RouteSchema, {
        assignmentId: `${name}-0-r1`,
        instanceName: name,
        replica: 0,
        modelId: MODEL,
        node: `node-${String(j % 1000).padStart(4, "0")}`,
        address: `10.${(j >> 16) & 255}.${(j >> 8) & 255}.${j & 255}:${20000 + (j % 64)}`,
      });
      pipe.set(keys.instance(name), record(name)).zadd(keys.instances(), j, name).hset(keys.routes(), route.assignmentId, toJsonString(RouteSchema, route));
    }
    await pipe.exec();
  }
  const pipe = redis.pipeline();
  for (let i = 0; i < flips; i++) {
    const name = `flip-${i}`;
    pipe
      .set(keys.instance(name), record(name))
      .zadd(keys.instances(), routes + i, name)
      .hset(keys.replicas(name), `${name}-0-r1`, flipReplica(name, "starting"));
  }
  await pipe.exec();
}

function flipReplica(name: string, status: string): string {
  return toJsonString(
    ReplicaSchema,
    create(ReplicaSchema, {
      assignmentId: `${name}-0-r1`,
      index: 0,
      revision: 1n,
      node: "node-flip",
      status,
      address: status === "running" ? `10.99.0.1:${name.length}` : "",
    }),
  );
}

/** A replica of `flip-i` becomes ready, as its agent's heartbeat reports it (merge-replica). */
async function makeReady(redis: Redis, keys: KeySchema, i: number) {
  const name = `flip-${i}`;
  const id = `${name}-0-r1`;
  const route = toJsonString(
    RouteSchema,
    create(RouteSchema, { assignmentId: id, instanceName: name, replica: 0, modelId: MODEL, node: "node-flip", address: "10.99.0.1:20000" }),
  );
  await runScript(
    redis,
    "merge-replica",
    [keys.replicas(name), keys.routes(), keys.routesVersion(), keys.events(), keys.routesLog(), keys.routesUnready()],
    [
      id,
      flipReplica(name, "starting"),
      flipReplica(name, "running"),
      "set",
      route,
      keys.changesChannel(),
      "",
      name,
      "node-flip",
      "",
      String(Date.now()),
      String(EVENT_STREAM_MAXLEN),
      name,
    ],
  );
  return id;
}

interface PhaseResult {
  changes: number;
  bytesPerChange: number;
  cpuMsPerChange: number;
  p50: number;
  p99: number;
  /** Bytes each watcher received before the first change: its first table or snapshot. */
  initialBytes: number;
}

async function controlPlane(redisUrl: string, prefix: string): Promise<{ url: string; cpuMs: () => Promise<number>; stop: () => Promise<void> }> {
  const child: ChildProcess = fork(new URL("./watch-bench-server.ts", import.meta.url), [], {
    env: { ...process.env, BENCH_REDIS_URL: redisUrl, BENCH_PREFIX: prefix, BENCH_JOIN_TOKEN: TOKEN },
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("message", (m: { url?: string }) => (m.url ? resolve(m.url) : reject(new Error("no url"))));
    child.once("exit", (code) => reject(new Error(`control plane exited ${code}`)));
  });
  const cpuMs = () =>
    new Promise<number>((resolve) => {
      child.once("message", (m: { cpu: NodeJS.CpuUsage }) => resolve((m.cpu.user + m.cpu.system) / 1000));
      child.send("cpu");
    });
  const stop = async () => {
    const exited = new Promise((r) => child.once("exit", r));
    child.send("stop");
    await exited;
  };
  return { url, cpuMs, stop };
}

async function runPhase(
  redis: Redis,
  keys: KeySchema,
  cp: Awaited<ReturnType<typeof controlPlane>>,
  make: (url: string) => Watcher,
  warmup: number,
  changes: number,
  firstFlip: number,
): Promise<PhaseResult> {
  const watchers = Array.from({ length: WATCHERS }, () => make(cp.url));
  await Promise.all(watchers.map((w) => w.ready));
  const initialBytes = watchers.reduce((s, w) => s + w.bytes(), 0) / WATCHERS;
  const change = async (i: number) => {
    const id = `flip-${i}-0-r1`;
    const arrivals = watchers.map((w) => w.arrival(id));
    const started = performance.now();
    await makeReady(redis, keys, i);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`change ${i} not seen within 60 s`)), 60_000);
    });
    const all = await Promise.race([Promise.all(arrivals), late]).finally(() => clearTimeout(timer));
    return Math.max(...all) - started;
  };
  for (let i = 0; i < warmup; i++) await change(firstFlip + i);
  await sleep(200);
  const bytesBefore = watchers.reduce((s, w) => s + w.bytes(), 0);
  const cpuBefore = await cp.cpuMs();
  const latencies: number[] = [];
  for (let i = 0; i < changes; i++) {
    latencies.push(await change(firstFlip + warmup + i));
    // Apart, so that each is its own change rather than a batch.
    await sleep(10);
  }
  const cpuAfter = await cp.cpuMs();
  const bytesAfter = watchers.reduce((s, w) => s + w.bytes(), 0);
  for (const w of watchers) w.close();
  latencies.sort((a, b) => a - b);
  return {
    changes,
    bytesPerChange: (bytesAfter - bytesBefore) / changes / WATCHERS,
    cpuMsPerChange: (cpuAfter - cpuBefore) / changes,
    p50: pct(latencies, 0.5),
    p99: pct(latencies, 0.99),
    initialBytes,
  };
}

const fmtBytes = (b: number) => (b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : b >= 1e3 ? `${(b / 1e3).toFixed(1)} kB` : `${b.toFixed(0)} B`);
const fmtMs = (ms: number) => (ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(2)} ms`);
const ratio = (a: number, b: number) => `${(a / b).toFixed(a / b >= 100 ? 0 : 1)}x`;

const server = await startRedisServer();
const redis = new Redis(server.url);
defineScripts(redis);
const rows: Array<{ routes: number; full: PhaseResult; incremental: PhaseResult }> = [];
try {
  for (const [s, routes] of SIZES.entries()) {
    const fullChanges = FULL_CHANGES[s] ?? FULL_CHANGES.at(-1)!;
    const keys = createKeySchema("wb");
    const flips = WARMUP.full + fullChanges + WARMUP.incremental + CHANGES;
    await seed(redis, keys, routes, flips);
    const cp = await controlPlane(server.url, keys.prefix);
    try {
      // A first watcher starts the control plane's cache, which writes the unready entries of the
      // starting instances; measuring begins once they are all there.
      const warm = incrementalWatcher(cp.url);
      await warm.ready;
      while ((await redis.hlen(keys.routesUnready())) < flips) await sleep(100);
      warm.close();
      console.error(`${routes} routes: full-table watch, ${fullChanges} changes ...`);
      const full = await runPhase(redis, keys, cp, fullTableWatcher, WARMUP.full, fullChanges, 0);
      console.error(`${routes} routes: incremental watch, ${CHANGES} changes ...`);
      const incremental = await runPhase(redis, keys, cp, incrementalWatcher, WARMUP.incremental, CHANGES, WARMUP.full + fullChanges);
      rows.push({ routes, full, incremental });
    } finally {
      await cp.stop();
    }
  }
} finally {
  await redis.quit();
  await server.stop();
}

console.log(`\nOne route change (a replica becoming ready), ${WATCHERS} watchers (Connect over HTTP/1.1), control plane in its own process\n`);
console.log(
  "| routes | watch | changes | bytes per change and watcher | control-plane CPU per change | write -> all watchers p50 | p99 | first table / snapshot per watcher |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const { routes, full, incremental } of rows) {
  for (const [name, r] of [
    ["full table (WatchRoutes)", full],
    ["incremental (WatchRouteChanges)", incremental],
  ] as const) {
    console.log(
      `| ${routes.toLocaleString("en")} | ${name} | ${r.changes} | ${fmtBytes(r.bytesPerChange)} | ${fmtMs(r.cpuMsPerChange)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ${fmtBytes(r.initialBytes)} |`,
    );
  }
  console.log(
    `| | full / incremental | | ${ratio(full.bytesPerChange, incremental.bytesPerChange)} | ${ratio(full.cpuMsPerChange, incremental.cpuMsPerChange)} | ${ratio(full.p50, incremental.p50)} | ${ratio(full.p99, incremental.p99)} | |`,
  );
}
