/**
 * A quick A/B of the HTTP gateway at concurrency 1 (issue 11's 1 × 384 base64 /v1/embeddings):
 * one fake TEI, routers started with different extra arguments (default: `--log-level info`
 * vs `--log-level warn`, i.e. with and without the per-request log line), measured in
 * interleaved rounds of sequential keep-alive requests: p50 latency and CPU per request of each
 * router process (/proc). `--cpu-prof` writes a V8 CPU profile of the first router to /tmp.
 *
 *   node router/bench/gateway-profile.ts [--requests 1000] [--rounds 5] [--cpu-prof]
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { Agent, request } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort } from "../../test/harness/free-port.ts";
import { cpuSeconds } from "./cpu-time.ts";
import { passages } from "./gateway-payloads.ts";
import { startBenchTei, stopTei, writeRoutes } from "./gateway-procs.ts";

const { values: flags } = parseArgs({ options: { requests: { type: "string" }, rounds: { type: "string" }, "cpu-prof": { type: "boolean" } } });
const N = Number(flags.requests ?? 1000);
const ROUNDS = Number(flags.rounds ?? 5);
const ROUTER_MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const MODEL = "BAAI/bge-small-en-v1.5";

interface Variant {
  name: string;
  args: string[];
  child?: ChildProcess;
  port?: number;
  p50: number[];
  cpu: number[];
}

async function startRouter(v: Variant, routesFile: string, prof: boolean): Promise<void> {
  const [g, m, h] = [await freePort(), await freePort(), await freePort()];
  const node = prof ? ["--cpu-prof", "--cpu-prof-dir", "/tmp/gwp"] : [];
  const args = [
    ...node,
    ROUTER_MAIN,
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
  child.stderr?.resume();
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
    if (Date.now() > deadline || child.exitCode !== null) throw new Error("router did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  v.child = child;
  v.port = h;
}

function post(agent: Agent, port: number, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = request(
      {
        host: "127.0.0.1",
        port,
        path: "/v1/embeddings",
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
        res.resume();
        res.on("end", () => resolve());
      },
    );
    r.on("error", reject);
    r.end(body);
  });
}

async function round(v: Variant, body: string, n: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < 50; i++) await post(agent, v.port as number, body);
  const pid = v.child?.pid as number;
  const lat = new Float64Array(n);
  const c0 = cpuSeconds(pid);
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await post(agent, v.port as number, body);
    lat[i] = Number(process.hrtime.bigint() - t) / 1e3;
  }
  const c1 = cpuSeconds(pid);
  agent.destroy();
  lat.sort();
  v.p50.push(lat[Math.floor(n / 2)] as number);
  v.cpu.push(((c1 - c0) * 1e6) / n);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const dir = await mkdtemp(join(tmpdir(), "gw-profile-"));
const tei = await startBenchTei(MODEL);
const routesFile = join(dir, "routes.json");
await writeRoutes(routesFile, [{ instanceName: "bench-a", modelId: MODEL, address: `127.0.0.1:${tei.port}` }], 1);
const variants: Variant[] = [
  { name: "log info", args: ["--log-level", "info"], p50: [], cpu: [] },
  { name: "log warn", args: ["--log-level", "warn"], p50: [], cpu: [] },
];
try {
  for (const [i, v] of variants.entries()) await startRouter(v, routesFile, flags["cpu-prof"] === true && i === 0);
  const body = JSON.stringify({ model: MODEL, input: passages(1, 384), encoding_format: "base64" });
  for (let r = 0; r < ROUNDS; r++) for (const v of r % 2 === 0 ? variants : [...variants].reverse()) await round(v, body, N);
  for (const v of variants)
    console.log(
      `${v.name.padEnd(12)} c=1 p50 ${median(v.p50).toFixed(0).padStart(5)} µs  cpu/req ${median(v.cpu).toFixed(0).padStart(5)} µs   rounds p50 ${v.p50.map((x) => x.toFixed(0)).join(" ")}`,
    );
} finally {
  for (const v of variants) {
    v.child?.kill("SIGINT");
    await new Promise((r) => v.child?.once("exit", r));
  }
  await stopTei(tei);
}
