/**
 * A quick A/B of the HTTP gateway at concurrency 1 (issue 11's 1 × 384 base64 /v1/embeddings):
 * one fake TEI, two routers started with different extra arguments (default: `--log-level info`
 * vs `--log-level warn`, i.e. with and without the per-request log line), measured in rounds of
 * sequential keep-alive requests: p50 latency and CPU per request of each router process.
 *
 * Within a round the two routers take turns, a block of `--block` requests each (default 20),
 * so that both see the same machine: on a shared 2-core VM the CPU a request costs drifts by
 * ±15% over seconds, which would otherwise swamp a change of a few percent (measured: two runs
 * of one checkout against itself, 20 rounds of 2,000, come out within ±1.5%; single rounds
 * ±5%). CPU is each router's threads' time on CPU (/proc/<pid>/task/<tid>/schedstat, ns, read
 * around each of its blocks); the kernel's share (`sys`, from /proc/<pid>/stat ticks, coarse) is
 * printed beside it. The client is a raw socket with the request prebuilt, so it costs little
 * next to the routers whose cores it shares. The last lines are the medians of the per-round
 * ratios of the first variant to the second, and the ratios of each round.
 *
 * `--base-dir DIR` compares two checkouts instead: this one's router ("work") against DIR's
 * router/src/main.ts ("base"), both at the default log level (info, as `pnpm bench:gateway`
 * runs it), against the same fake TEI. DIR is e.g. a clean worktree of HEAD:
 *   git worktree add /tmp/gw-base HEAD && (cd /tmp/gw-base && pnpm install --offline --frozen-lockfile)
 *   ...  git worktree remove --force /tmp/gw-base
 * `--node-flags="FLAGS"` compares V8 tuning instead: this checkout's router started with FLAGS after
 * ROUTER_NODE_FLAGS ("flags") against one with ROUTER_NODE_FLAGS alone ("as shipped").
 * `--cpu-prof` writes a V8 CPU profile (100 µs sampling) of each router to /tmp/gwp/<variant>.cpuprofile,
 * taken under the same turns, so that the two profiles compare function by function.
 *
 *   node router/bench/gateway-profile.ts [--requests 2000] [--rounds 5] [--block 20] [--warmup 3000]
 *     [--base-dir DIR | --node-flags=FLAGS] [--cpu-prof]
 * (`--warmup` requests per router, in turns, before the rounds: until then V8 is still optimizing.)
 */

import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort } from "../../test/harness/free-port.ts";
import { ROUTER_NODE_FLAGS } from "../src/process-tuning.ts";
import { cpuTimes } from "./cpu-time.ts";
import { passages } from "./gateway-payloads.ts";
import { startBenchTei, stopTei, writeRoutes } from "./gateway-procs.ts";

const { values: flags } = parseArgs({
  options: {
    requests: { type: "string" },
    rounds: { type: "string" },
    block: { type: "string" },
    warmup: { type: "string" },
    "base-dir": { type: "string" },
    "node-flags": { type: "string" },
    "cpu-prof": { type: "boolean" },
  },
});
const N = Number(flags.requests ?? 2000);
const ROUNDS = Number(flags.rounds ?? 5);
const BLOCK = Number(flags.block ?? 20);
const WARMUP = Number(flags.warmup ?? 3000);
const ROUTER_MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const MODEL = "BAAI/bge-small-en-v1.5";

interface Variant {
  name: string;
  /** The router's entry point (this checkout's, or `--base-dir`'s). */
  main: string;
  args: string[];
  /** Node flags after ROUTER_NODE_FLAGS (`--node-flags`). */
  nodeFlags?: string[];
  child?: ChildProcess;
  port?: number;
  conn?: Conn;
  p50: number[];
  cpu: number[];
  /** The kernel's share of `cpu` (system calls: the socket reads and writes). */
  sys: number[];
}

async function startRouter(v: Variant, routesFile: string, prof: boolean): Promise<void> {
  const [g, m, h] = [await freePort(), await freePort(), await freePort()];
  const node = prof
    ? ["--cpu-prof", "--cpu-prof-dir", "/tmp/gwp", "--cpu-prof-name", `${v.name.replace(/\W+/g, "-")}.cpuprofile`, "--cpu-prof-interval", "100"]
    : [];
  const args = [
    ...ROUTER_NODE_FLAGS,
    ...(v.nodeFlags ?? []),
    ...node,
    v.main,
    "--listen",
    `127.0.0.1:${g}`,
    "--metrics-listen",
    `127.0.0.1:${m}`,
    "--http-listen",
    `127.0.0.1:${h}`,
    "--routes-file",
    routesFile,
    ...v.args,
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  // "router listening" is an info line (absent at --log-level warn): wait for the port instead.
  // Until then its output is kept, for the error of a router that exits (e.g. a --base-dir without node_modules).
  let early = "";
  const keep = (d: Buffer) => {
    if (early.length < 4096) early += d.toString();
  };
  child.stderr?.on("data", keep);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const up = await new Promise<boolean>((r) => {
      const s = connect(h, "127.0.0.1", () => {
        s.destroy();
        r(true);
      });
      s.on("error", () => r(false));
    });
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill("SIGKILL");
      throw new Error(`router ${v.main} did not start:\n${early.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.stderr?.off("data", keep);
  child.stderr?.resume(); // drained from here on (per-request lines, if any)
  v.child = child;
  v.port = h;
}

/**
 * One keep-alive HTTP/1.1 connection that sends the same request over and over: its bytes are
 * built once and each answer is read only as far as its status and content-length, so that the
 * client, which shares the machine's cores with the routers, costs little next to them
 * (node:http's client costs more per request than the gateway itself).
 */
class Conn {
  private readonly socket: Socket;
  private readonly request: Buffer;
  private buf: Buffer = Buffer.alloc(0);
  private waiter: { resolve: () => void; reject: (err: Error) => void } | null = null;

  private constructor(socket: Socket, port: number, body: string) {
    this.socket = socket;
    const head = `POST /v1/embeddings HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    this.request = Buffer.from(head + body);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => this.waiter?.reject(err));
    socket.on("close", () => this.waiter?.reject(new Error("connection closed")));
  }

  static open(port: number, body: string): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: "127.0.0.1", noDelay: true }, () => resolve(new Conn(s, port, body)));
      s.once("error", reject);
    });
  }

  /** Sends the request; resolves once its whole answer arrived (rejects unless 200). */
  post(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.socket.write(this.request);
    });
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const w = this.waiter;
    const end = this.buf.indexOf("\r\n\r\n");
    if (w === null || end < 0) return;
    const head = this.buf.toString("latin1", 0, end);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buf.length < end + 4 + length) return;
    this.buf = this.buf.subarray(end + 4 + length);
    this.waiter = null;
    if (head.startsWith("HTTP/1.1 200 ")) w.resolve();
    else w.reject(new Error(head.split("\r\n")[0]));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Nanoseconds on CPU of all of `pid`'s threads so far (the kernel's sum_exec_runtime of each). */
function cpuNs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // the thread ended
    }
  }
  return ns;
}

/**
 * `n` sequential requests to each variant, the variants taking turns by blocks of BLOCK
 * (starting with `first`); with `record`, each one's p50 and CPU per request of the round.
 */
async function round(first: number, n: number, record = true): Promise<void> {
  const order = first === 0 ? variants : [...variants].reverse();
  const lat = new Map(order.map((v) => [v, new Float64Array(n)]));
  const ns = new Map(order.map((v) => [v, 0]));
  const t0 = new Map(order.map((v) => [v, cpuTimes(v.child?.pid as number)]));
  for (let done = 0; done < n; done += BLOCK) {
    const k = Math.min(BLOCK, n - done);
    for (const v of order) {
      const conn = v.conn as Conn;
      const pid = v.child?.pid as number;
      const l = lat.get(v) as Float64Array;
      const c0 = cpuNs(pid);
      for (let i = done; i < done + k; i++) {
        const t = process.hrtime.bigint();
        await conn.post();
        l[i] = Number(process.hrtime.bigint() - t) / 1e3;
      }
      ns.set(v, (ns.get(v) as number) + cpuNs(pid) - c0);
    }
  }
  if (!record) return;
  for (const v of order) {
    const l = (lat.get(v) as Float64Array).sort();
    const a = t0.get(v) as { system: number };
    v.p50.push(l[Math.floor(n / 2)] as number);
    v.cpu.push((ns.get(v) as number) / 1e3 / n);
    v.sys.push(((cpuTimes(v.child?.pid as number).system - a.system) * 1e6) / n);
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const dir = await mkdtemp(join(tmpdir(), "gw-profile-"));
const tei = await startBenchTei(MODEL);
const routesFile = join(dir, "routes.json");
await writeRoutes(routesFile, [{ instanceName: "bench-a", modelId: MODEL, address: `127.0.0.1:${tei.port}` }], 1);
const baseDir = flags["base-dir"];
const nodeFlags = flags["node-flags"]?.split(/\s+/).filter(Boolean);
const variants: Variant[] =
  nodeFlags !== undefined
    ? [
        { name: "flags", main: ROUTER_MAIN, args: [], nodeFlags, p50: [], cpu: [], sys: [] },
        { name: "as shipped", main: ROUTER_MAIN, args: [], p50: [], cpu: [], sys: [] },
      ]
    : baseDir === undefined
      ? [
          { name: "log info", main: ROUTER_MAIN, args: ["--log-level", "info"], p50: [], cpu: [], sys: [] },
          { name: "log warn", main: ROUTER_MAIN, args: ["--log-level", "warn"], p50: [], cpu: [], sys: [] },
        ]
      : [
          { name: "work", main: ROUTER_MAIN, args: [], p50: [], cpu: [], sys: [] },
          { name: "base", main: resolve(baseDir, "router/src/main.ts"), args: [], p50: [], cpu: [], sys: [] },
        ];
try {
  for (const v of variants) await startRouter(v, routesFile, flags["cpu-prof"] === true);
  const body = JSON.stringify({ model: MODEL, input: passages(1, 384), encoding_format: "base64" });
  for (const v of variants) v.conn = await Conn.open(v.port as number, body);
  // Optimized code first: the first thousands of requests run partly unoptimized and would make the first rounds outliers.
  await round(0, WARMUP, false);
  for (let r = 0; r < ROUNDS; r++) await round(r % 2, N);
  for (const v of variants)
    console.log(
      `${v.name.padEnd(12)} c=1 p50 ${median(v.p50).toFixed(0).padStart(5)} µs  cpu/req ${median(v.cpu).toFixed(0).padStart(5)} µs (sys ${median(v.sys).toFixed(0)})   rounds p50 ${v.p50.map((x) => x.toFixed(0)).join(" ")}  cpu ${v.cpu.map((x) => x.toFixed(0)).join(" ")}`,
    );
  // Both ran the same round by turns: its ratio cancels most of what the machine's other load did to it.
  const [a, b] = variants as [Variant, Variant];
  const ratio = (xs: number[], ys: number[]) => median(xs.map((x, i) => x / (ys[i] as number))).toFixed(3);
  console.log(`${a.name}/${b.name}: p50 ×${ratio(a.p50, b.p50)}  cpu/req ×${ratio(a.cpu, b.cpu)} (medians of per-round ratios)`);
  const rounds = (xs: number[], ys: number[]) => xs.map((x, i) => (x / (ys[i] as number)).toFixed(2)).join(" ");
  console.log(`  per round: p50 ${rounds(a.p50, b.p50)}\n             cpu ${rounds(a.cpu, b.cpu)}`);
} finally {
  for (const v of variants) v.conn?.close();
  for (const v of variants) {
    const c = v.child;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) continue;
    c.kill("SIGINT");
    await new Promise((r) => c.once("exit", r));
  }
  await stopTei(tei);
  await rm(dir, { recursive: true, force: true });
}
