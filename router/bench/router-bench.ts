/**
 * `pnpm bench:router`: the fake TEI directly, through tei-router, and through nginx `grpc_pass`
 * (one worker, keepalive upstream), all driven by h2load with gRPC Embed requests; then a
 * 10,000-message bidirectional EmbedStream through the router and directly. A byte-for-byte Node TCP
 * relay (node-relay.ts) runs beside them as the runtime's floor: what any Node process adds. Rounds are
 * interleaved (direct, router, nginx, direct, ...) and medians reported, because other load on
 * the machine shifts all three alike within a round; the CPU time each proxy spends per call is
 * reported too, as it depends far less on that load. Prints the figures and the issue's targets.
 *
 * Concurrency 1 is measured in short slices per round, the targets interleaved, and added
 * latency is the median over slices of (target's median - direct's median in the same slice):
 * on a shared 2-core machine the mean of a whole run moves by more than the router adds.
 *
 * Flags: --rounds N (5) --c1-requests N (1500, per round and target) --slices N (5)
 * --c64-requests N (5000) --clients N (8)
 * --streams N (8, per connection; clients x streams = the concurrency) --stream-messages N (10000).
 * Env ROUTER_BENCH_CPU_PROF=DIR runs the router under --cpu-prof; ROUTER_BENCH_NODE_FLAGS="..." replaces
 * ROUTER_NODE_FLAGS (an A/B of the router's V8 tuning). The router runs with --trace-gc, so the bench
 * counts the collections (and their pauses) it made during the measured rounds.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { EmbedRequestSchema } from "@tei-fleet/proto/tei/v1";
import { EmbedRequestSchema as MuxEmbedRequestSchema } from "@tei-fleet/proto/tei_multiplexer/v1";
import { freePort } from "../../test/harness/free-port.ts";
import { ROUTER_NODE_FLAGS } from "../src/process-tuning.ts";
import { type FakeTeiProcess, startFakeTei } from "../test/support/fake-tei.ts";
import { type CpuTimes, childPids, cpuTimes, memoryMiB } from "./cpu-time.ts";
import { type H2loadResult, h2load } from "./h2load.ts";
import { type Nginx, startNginx } from "./nginx.ts";
import { type NodeRelay, startNodeRelay } from "./node-relay.ts";
import { type StreamResult, streamThroughput } from "./stream-throughput.ts";

const { values: flags } = parseArgs({
  // `pnpm bench:router -- --rounds 3` passes the "--" through; it separates nothing here.
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: {
    rounds: { type: "string", default: "5" },
    "c1-requests": { type: "string", default: "1500" },
    slices: { type: "string", default: "5" },
    "c64-requests": { type: "string", default: "5000" },
    clients: { type: "string", default: "8" },
    streams: { type: "string", default: "8" },
    "stream-messages": { type: "string", default: "10000" },
  },
});
const ROUNDS = Number(flags.rounds);
const C1_REQUESTS = Number(flags["c1-requests"]);
const SLICES = Math.max(1, Number(flags.slices));
const C64_REQUESTS = Number(flags["c64-requests"]);
const CLIENTS = Number(flags.clients);
const STREAMS = Number(flags.streams);
const STREAM_MESSAGES = Number(flags["stream-messages"]);
const MODEL = "BAAI/bge-small-en-v1.5";
const TEXT = "What is Deep Learning?";
const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));

/** Installs h2load and nginx with apt-get when missing and we are root (Debian). */
function ensureTools(): void {
  const missing = ["h2load", "nginx"].filter((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`missing ${missing.join(", ")}: run  sudo apt-get install -y nginx-light nghttp2-client`);
  }
  console.log(`installing ${missing.join(", ")} with apt-get ...`);
  const r = spawnSync("sh", ["-c", "apt-get install -y nginx-light nghttp2-client || (apt-get update && apt-get install -y nginx-light nghttp2-client)"], {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (r.status !== 0) throw new Error("apt-get could not install nginx-light and nghttp2-client");
}

function framed(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  Buffer.from(bytes).copy(out, 5);
  return out;
}

/** Collections counted from the router's --trace-gc lines. */
interface GcCounts {
  scavenges: number;
  scavengeMs: number;
  markCompacts: number;
  markCompactMs: number;
}

/** One --trace-gc line's kind and main-thread pause: "... Scavenge 9.2 (10.1) -> 8.8 (11.1) MB, pooled: 0 MB, 3.93 / 0.00 ms ...". */
const GC_LINE = /: (Scavenge|Mark-Compact)\b.*? MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ [\d.]+ ms/;

interface RouterProcess {
  port: number;
  pid: number;
  /** Collections since start. */
  gc(): GcCounts;
  stop(): Promise<void>;
}

async function startRouterProcess(dir: string, teiAddress: string): Promise<RouterProcess> {
  const routes = join(dir, "routes.json");
  await writeFile(
    routes,
    JSON.stringify({ version: 1, routes: [{ instanceName: "bge", modelId: MODEL, node: "bench", address: teiAddress, assignmentId: "bench-1" }] }),
  );
  const [port, mport] = [await freePort(), await freePort()];
  const prof = process.env.ROUTER_BENCH_CPU_PROF;
  const tuning = process.env.ROUTER_BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? ROUTER_NODE_FLAGS;
  const nodeArgs = [...tuning, "--trace-gc", ...(prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : [])];
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, MAIN, "--listen", `127.0.0.1:${port}`, "--metrics-listen", `127.0.0.1:${mport}`, "--routes-file", routes],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  // --trace-gc writes to stdout, the router's logs go to stderr.
  const gc: GcCounts = { scavenges: 0, scavengeMs: 0, markCompacts: 0, markCompactMs: 0 };
  let partial = "";
  child.stdout?.on("data", (d: Buffer) => {
    const lines = (partial + d.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      const m = GC_LINE.exec(line);
      if (m?.[1] === "Scavenge") {
        gc.scavenges++;
        gc.scavengeMs += Number(m[2]);
      } else if (m?.[1] === "Mark-Compact") {
        gc.markCompacts++;
        gc.markCompactMs += Number(m[2]);
      }
    }
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let log = "";
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`router did not start:\n${log}`)), 20_000);
    child.stderr?.on("data", (d: Buffer) => {
      log += d.toString();
      if (log.includes("router listening")) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once("exit", () => reject(new Error(`router exited:\n${log}`)));
  });
  return {
    port,
    pid: child.pid ?? 0,
    gc: () => ({ ...gc }),
    async stop() {
      child.kill("SIGINT");
      await exited;
    },
  };
}

/** The router's V8 tuning flags in this run. */
function tuningText(): string {
  return process.env.ROUTER_BENCH_NODE_FLAGS ?? ROUTER_NODE_FLAGS.join(" ");
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

const us = (x: number): string => `${x.toFixed(0)} µs`;
const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;

async function main(): Promise<void> {
  ensureTools();
  const dir = await mkdtemp(join(tmpdir(), "tei-router-bench-"));
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void cleanup().then(() => process.exit(130)));
  try {
    console.log(
      `machine: ${cpus().length} CPUs, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")} (other load skews every figure)`,
    );
    const tei: FakeTeiProcess = await startFakeTei(MODEL);
    cleanups.push(() => tei.kill());
    const router = await startRouterProcess(dir, tei.address);
    cleanups.push(() => router.stop());
    const nginx: Nginx = await startNginx(join(dir, "nginx"), await freePort(), tei.address);
    cleanups.push(() => nginx.stop());
    const relay: NodeRelay = await startNodeRelay(await freePort(), tei.address);
    cleanups.push(() => relay.stop());

    const plainBody = join(dir, "embed.bin");
    const muxBody = join(dir, "mux-embed.bin");
    const plain = framed(toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs: TEXT, truncate: true })));
    await writeFile(plainBody, plain);
    await writeFile(
      muxBody,
      framed(
        toBinary(
          MuxEmbedRequestSchema,
          create(MuxEmbedRequestSchema, { target: { routing: { case: "instanceName", value: "bge" } }, request: { inputs: TEXT, truncate: true } }),
        ),
      ),
    );

    const targets = {
      direct: { url: `http://${tei.address}/tei.v1.Embed/Embed`, body: plainBody },
      router: { url: `http://127.0.0.1:${router.port}/tei.v1.Embed/Embed`, body: plainBody },
      nginx: { url: `http://127.0.0.1:${nginx.port}/tei.v1.Embed/Embed`, body: plainBody },
      "router (mux)": { url: `http://127.0.0.1:${router.port}/tei_multiplexer.v1.TeiMultiplexer/Embed`, body: muxBody },
      "node relay": { url: `http://127.0.0.1:${relay.port}/tei.v1.Embed/Embed`, body: plainBody },
    } as const;
    type Name = keyof typeof targets;
    const names = Object.keys(targets) as Name[];
    const headers = { "x-tei-instance": "bge" };
    const runOne = (n: Name, requests: number, clients: number, streams: number): Promise<H2loadResult> =>
      h2load({ url: targets[n].url, bodyFile: targets[n].body, headers, requests, clients, streams, tmpDir: dir });

    // Sanity and warm-up (JIT, connections): every target must answer OK.
    for (const n of names) {
      const r = await runOne(n, 2000, 4, 4);
      if (r.succeeded !== 2000) throw new Error(`${n}: only ${r.succeeded}/2000 requests succeeded`);
    }
    const proxyPid: Record<Name, number> = {
      direct: tei.child.pid ?? 0,
      router: router.pid,
      nginx: childPids(nginx.pid)[0] ?? nginx.pid,
      "router (mux)": router.pid,
      "node relay": relay.pid,
    };
    interface Sample {
      /** Median latency of each c=1 slice. */
      c1p50: number[];
      c1: { meanUs: number; p99Us: number };
      c64: H2loadResult;
      /** CPU µs per call of the process that serves the target (the proxy, or the fake TEI for direct). */
      cpuC1: CpuTimes;
      cpuC64: CpuTimes;
    }
    const samples: Record<Name, Sample[]> = { direct: [], router: [], nginx: [], "router (mux)": [], "node relay": [] };
    const streamed: Record<"direct" | "router" | "router (mux)", StreamResult[]> = { direct: [], router: [], "router (mux)": [] };
    const muxFramed = framed(
      toBinary(
        MuxEmbedRequestSchema,
        create(MuxEmbedRequestSchema, { target: { routing: { case: "instanceName", value: "bge" } }, request: { inputs: TEXT, truncate: true } }),
      ),
    );
    const perCall = (from: CpuTimes, to: CpuTimes, calls: number): CpuTimes => ({
      user: ((to.user - from.user) * 1e6) / calls,
      system: ((to.system - from.system) * 1e6) / calls,
    });
    const sliceRequests = Math.max(50, Math.round(C1_REQUESTS / SLICES));
    const gcBefore = router.gc();
    for (let round = 1; round <= ROUNDS; round++) {
      process.stdout.write(`round ${round}/${ROUNDS} ...`);
      // Concurrency 1 in short slices, the targets interleaved in a rotating order: load from
      // elsewhere on the machine moves direct, router and nginx alike within a slice, and the
      // slice's median is not moved by the few requests another process delayed.
      const c1: Record<Name, { p50: number[]; mean: number[]; p99: number[]; cpu: CpuTimes }> = Object.fromEntries(
        names.map((n) => [n, { p50: [], mean: [], p99: [], cpu: { user: 0, system: 0 } }]),
      ) as never;
      for (let slice = 0; slice < SLICES; slice++) {
        for (let k = 0; k < names.length; k++) {
          const n = names[(k + slice + round) % names.length] as Name;
          const t0 = cpuTimes(proxyPid[n]);
          const r = await runOne(n, sliceRequests, 1, 1);
          const t1 = cpuTimes(proxyPid[n]);
          const acc = c1[n];
          acc.p50.push(r.p50Us);
          acc.mean.push(r.meanUs);
          acc.p99.push(r.p99Us);
          acc.cpu = { user: acc.cpu.user + t1.user - t0.user, system: acc.cpu.system + t1.system - t0.system };
        }
      }
      for (const n of names) {
        const t1 = cpuTimes(proxyPid[n]);
        const c64 = await runOne(n, C64_REQUESTS, CLIENTS, STREAMS);
        const t2 = cpuTimes(proxyPid[n]);
        const acc = c1[n];
        samples[n].push({
          c1p50: acc.p50,
          c1: { meanUs: acc.mean.reduce((a, b) => a + b, 0) / SLICES, p99Us: median(acc.p99) },
          c64,
          cpuC1: perCall({ user: 0, system: 0 }, acc.cpu, SLICES * sliceRequests),
          cpuC64: perCall(t1, t2, C64_REQUESTS),
        });
      }
      streamed.direct.push(await streamThroughput(tei.address, "/tei.v1.Embed/EmbedStream", plain, STREAM_MESSAGES, {}));
      streamed.router.push(await streamThroughput(`127.0.0.1:${router.port}`, "/tei.v1.Embed/EmbedStream", plain, STREAM_MESSAGES, headers));
      streamed["router (mux)"].push(
        await streamThroughput(`127.0.0.1:${router.port}`, "/tei_multiplexer.v1.TeiMultiplexer/EmbedStream", muxFramed, STREAM_MESSAGES, {}),
      );
      console.log(" done");
    }
    const gcAfter = router.gc();
    for (const [n, rs] of Object.entries(streamed)) {
      for (const r of rs) if (r.messages !== STREAM_MESSAGES || r.status !== "0") throw new Error(`${n} stream: ${r.messages} messages, status ${r.status}`);
    }

    // Paired per slice or round (the same moment of machine load), then the median.
    const perRound = (f: (round: number) => number): number => median(Array.from({ length: ROUNDS }, (_, i) => f(i)));
    const s = (n: Name, i: number): Sample => samples[n][i] as Sample;
    /** Added latency at c=1: per slice, the target's median minus direct's; the median over every slice of every round. */
    const added = (n: Name): number => median(samples[n].flatMap((x, i) => x.c1p50.map((p, k) => p - (s("direct", i).c1p50[k] as number))));
    const cpu = (n: Name, which: "cpuC1" | "cpuC64"): CpuTimes => ({
      user: median(samples[n].map((x) => x[which].user)),
      system: median(samples[n].map((x) => x[which].system)),
    });
    const cpuText = (t: CpuTimes): string => `${us(t.user + t.system)} (${t.user.toFixed(0)}+${t.system.toFixed(0)})`;
    const conc = CLIENTS * STREAMS;
    console.log(`\nUnary tei.v1.Embed ("${TEXT}", bge-small fake TEI), ${ROUNDS} rounds; c=1 in ${SLICES} interleaved slices of ${sliceRequests} per round`);
    console.log(
      `${"".padEnd(14)}${"c=1 p50".padStart(9)}${"c=1 p99".padStart(10)}${"added".padStart(8)}${`c=${conc} req/s`.padStart(13)}` +
        `${"CPU/call c=1 (user+sys)".padStart(25)}${`c=${conc}`.padStart(20)}`,
    );
    for (const n of names) {
      const row = samples[n];
      console.log(
        `${n.padEnd(14)}${us(median(row.flatMap((x) => x.c1p50))).padStart(9)}${us(median(row.map((x) => x.c1.p99Us))).padStart(10)}` +
          `${(n === "direct" ? "" : us(added(n))).padStart(8)}${median(row.map((x) => x.c64.reqPerSec))
            .toFixed(0)
            .padStart(13)}` +
          `${cpuText(cpu(n, "cpuC1")).padStart(25)}${cpuText(cpu(n, "cpuC64")).padStart(20)}`,
      );
    }
    console.log("(added: c=1 median minus direct's in the same slice; CPU/call: of the fake TEI for direct, of the proxy process");
    console.log(" otherwise (nginx: its one worker), from /proc/<pid>/stat, 10 ms ticks; node relay: bytes copied, nothing parsed)");
    const routerAdded = added("router");
    const nginxAdded = added("nginx");
    const rpsVsNginx = perRound((i) => s("router", i).c64.reqPerSec / s("nginx", i).c64.reqPerSec);
    const rpsVsDirect = perRound((i) => s("router", i).c64.reqPerSec / s("direct", i).c64.reqPerSec);
    const total = (t: CpuTimes): number => t.user + t.system;
    console.log(`\nrouter / direct: throughput ${pct(rpsVsDirect)}`);
    console.log(
      `router / nginx : added latency at c=1 ${(routerAdded / nginxAdded).toFixed(2)}x, throughput at c=${conc} ${pct(rpsVsNginx)}, ` +
        `CPU per call ${(total(cpu("router", "cpuC1")) / total(cpu("nginx", "cpuC1"))).toFixed(2)}x at c=1, ` +
        `${(total(cpu("router", "cpuC64")) / total(cpu("nginx", "cpuC64"))).toFixed(2)}x at c=${conc}`,
    );
    const relayAdded = added("node relay");
    console.log(
      `router / node relay: added latency at c=1 ${us(routerAdded - relayAdded)} over the relay's ${us(relayAdded)} (the router's own work; ` +
        `the relay's is what any Node process adds), CPU per call ${(total(cpu("router", "cpuC1")) / total(cpu("node relay", "cpuC1"))).toFixed(2)}x at c=1`,
    );
    const streamRatio = perRound((i) => (streamed.router[i] as StreamResult).messagesPerSec / (streamed.direct[i] as StreamResult).messagesPerSec);
    const muxRatio = perRound((i) => (streamed["router (mux)"][i] as StreamResult).messagesPerSec / (streamed.direct[i] as StreamResult).messagesPerSec);
    console.log(`\nEmbedStream, ${STREAM_MESSAGES} messages on one bidirectional stream (median msg/s)`);
    console.log(
      `direct ${median(streamed.direct.map((r) => r.messagesPerSec)).toFixed(0)}   router ${median(streamed.router.map((r) => r.messagesPerSec)).toFixed(0)} (${pct(streamRatio)})` +
        `   router mux ${median(streamed["router (mux)"].map((r) => r.messagesPerSec)).toFixed(0)} (${pct(muxRatio)})`,
    );
    const gcText = (n: number, ms: number): string => `${n} (${ms.toFixed(0)} ms of pauses)`;
    console.log(
      `\nRouter collections during the rounds (--trace-gc, node ${tuningText()}): scavenges ` +
        `${gcText(gcAfter.scavenges - gcBefore.scavenges, gcAfter.scavengeMs - gcBefore.scavengeMs)}, mark-compacts ` +
        `${gcText(gcAfter.markCompacts - gcBefore.markCompacts, gcAfter.markCompactMs - gcBefore.markCompactMs)}`,
    );
    // Memory: the whole process (the router is a Node process; nginx's master and its worker).
    const routerMem = memoryMiB(router.pid);
    const nginxMem = [nginx.pid, ...childPids(nginx.pid)].map(memoryMiB).reduce((a, b) => ({ rss: a.rss + b.rss, peak: a.peak + b.peak }));
    console.log(
      `\nMemory after the run (resident, peak): router ${routerMem.rss.toFixed(0)} MiB, ${routerMem.peak.toFixed(0)} MiB` +
        `   nginx (master + worker) ${nginxMem.rss.toFixed(0)} MiB, ${nginxMem.peak.toFixed(0)} MiB`,
    );
    console.log("\nTargets (issues 6 and 10):");
    const verdict = (ok: boolean): string => (ok ? "met" : "MISSED");
    console.log(`  added latency at c=1 below 100 µs:       ${us(routerAdded)}  ${verdict(routerAdded < 100)}`);
    console.log(`  added latency at most nginx's (${us(nginxAdded)}):  ${(routerAdded / nginxAdded).toFixed(2)}x  ${verdict(routerAdded <= nginxAdded)}`);
    console.log(`  throughput at c=${conc} at least nginx's:   ${pct(rpsVsNginx)}  ${verdict(rpsVsNginx >= 1)}`);
    console.log(`  EmbedStream at least 90% of direct:      ${pct(streamRatio)}  ${verdict(streamRatio >= 0.9)}`);
    console.log(
      `machine load average at the end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
    );
  } finally {
    await cleanup();
  }
}

await main();
