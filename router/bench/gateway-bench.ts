/**
 * `pnpm bench:gateway`: the HTTP gateway (issue 11) against direct gRPC and against a naive
 * gateway, in one run on this machine.
 *
 * - Direct: h2load → fake TEI, gRPC (Embed for one input; one EmbedStream carrying N messages
 *   for N inputs, since gRPC has no list input).
 * - Gateway: the real router (router/src/main.ts with a routes file and `--http-listen`), its
 *   POST /v1/embeddings in float and base64 and TEI's POST /embed, by h2load over HTTP/1.1.
 * - Naive: gateway-naive/ (fastify + a Connect client, decode and re-encode), the same routes.
 *
 * For 1 input of 384 dimensions (BAAI/bge-small-en-v1.5) and 32 inputs of 1,024
 * (BAAI/bge-large-en-v1.5): latency at concurrency 1 (p50 and mean of many sequential requests)
 * and what the gateway adds to direct gRPC, requests/s at concurrency 64, and the gateway
 * process's CPU µs per request (/proc/<pid>/stat deltas). Rounds are interleaved and medians
 * reported, because other load on the machine shifts every target of a round alike; CPU per
 * request depends far less on that load. Then one 256-input request over 4 replicas vs over 1,
 * with simulated compute time per token in the fake TEIs. Prints each figure with the issue's
 * target and a verdict. Rows of a gateway route that does not answer read "not available".
 *
 * Flags: --quick (1 round, few requests: for development) --split-only (just the batch split) --rounds N (3) --c1-requests N (2000)
 * --c64-requests N (5000) (the 32-input scenario runs a twentieth of each, at least 50 and 200) --compute-us-per-token N
 * (200) --batch-floor-us N (2000) --split-inputs N (256) --split-repeats N (3; quick 1).
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { Embed } from "@tei-fleet/proto/tei/v1";
import type { FakeTei } from "../../test/fake-tei/launcher.ts";
import { cpuSeconds } from "./cpu-time.ts";
import { type LoadResult, runLoad } from "./gateway-load.ts";
import { markMachine, otherLoad } from "./gateway-machine.ts";
import { checkAnswer, passages, ROUTES, type RouteName, type Scenario, type ScenarioFiles, writeScenario } from "./gateway-payloads.ts";
import { type BenchRoute, startBenchRouter, startBenchTei, startNaiveGateway, writeRoutes } from "./gateway-procs.ts";
import { measureSplit, type SplitResult } from "./gateway-split.ts";

const { values: flags } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: {
    quick: { type: "boolean", default: false },
    "split-only": { type: "boolean", default: false },
    rounds: { type: "string" },
    "c1-requests": { type: "string" },
    "c64-requests": { type: "string" },
    "compute-us-per-token": { type: "string", default: "200" },
    "batch-floor-us": { type: "string", default: "2000" },
    "split-inputs": { type: "string", default: "256" },
    "split-repeats": { type: "string" },
  },
});
const QUICK = flags.quick;
const SPLIT_ONLY = flags["split-only"];
const ROUNDS = Number(flags.rounds ?? (QUICK ? 1 : 3));
const C1 = Number(flags["c1-requests"] ?? (QUICK ? 300 : 2000));
const C64 = Number(flags["c64-requests"] ?? (QUICK ? 1000 : 5000));
const US_PER_TOKEN = Number(flags["compute-us-per-token"]);
const BATCH_FLOOR_US = Number(flags["batch-floor-us"]);
const SPLIT_INPUTS = Number(flags["split-inputs"]);
const SPLIT_REPEATS = Number(flags["split-repeats"] ?? (QUICK ? 1 : 3));
/** Concurrency of the throughput runs: 64 HTTP/1.1 connections, or 8 h2 connections × 8 streams. */
const CONCURRENCY = 64;

const SCENARIOS: Scenario[] = [
  { label: "1 × 384", modelId: "BAAI/bge-small-en-v1.5", dim: 384, inputs: ["What is Deep Learning?"] },
  { label: "32 × 1024", modelId: "BAAI/bge-large-en-v1.5", dim: 1024, inputs: passages(32, 200) },
];
const SPLIT_MODEL = "BAAI/bge-base-en-v1.5";
const SPLIT_DIM = 768;
const SPLIT_CHARS = 100;

/** Installs h2load with apt-get when missing and we are root (Debian), as the router bench does. */
function ensureH2load(): void {
  if (spawnSync("sh", ["-c", "command -v h2load"]).status === 0) return;
  if (process.getuid?.() !== 0) throw new Error("missing h2load: run  sudo apt-get install -y nghttp2-client");
  console.log("installing h2load (nghttp2-client) with apt-get ...");
  const r = spawnSync("sh", ["-c", "apt-get install -y nghttp2-client || (apt-get update && apt-get install -y nghttp2-client)"], {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (r.status !== 0) throw new Error("apt-get could not install nghttp2-client");
}

/** One measured target of a scenario. */
interface Target {
  name: string;
  kind: "grpc" | "h1";
  url: string;
  bodyFile: string;
  headers: Record<string, string>;
  /** The process whose CPU time is charged to this target. */
  pid: number;
  /** Why it is not measured (the route does not answer as it should). */
  unavailable?: string;
}

interface Sample {
  c1: LoadResult;
  c64: LoadResult;
  /** CPU µs per request of the target's process, at c=1 and at c=64. */
  cpuC1: number;
  cpuC64: number;
}

const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor(s.length / 2)] as number);
};
const us = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(0)} µs` : "–");
const rps = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : "–");
const verdict = (ok: boolean | undefined): string => (ok === undefined ? "NOT MEASURED" : ok ? "met" : "MISSED");

/** POSTs a route's body once and checks the answer; returns why it is unusable, or undefined. */
async function probe(url: string, body: string, headers: Record<string, string>, route: RouteName, s: Scenario): Promise<string | undefined> {
  try {
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (res.status !== 200) return `HTTP ${res.status} ${text.slice(0, 120).replace(/\s+/g, " ")}`;
    return checkAnswer(route, JSON.parse(text), s.inputs.length, s.dim);
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return `no answer from ${new URL(url).host} (${cause ?? (err as Error).message})`;
  }
}

/** Runs c=1 then c=64 against one target, charging CPU to its process. */
async function sample(t: Target, c1Requests: number, c64Requests: number, dir: string): Promise<Sample> {
  const base = { url: t.url, bodyFile: t.bodyFile, kind: t.kind, headers: t.headers, tmpDir: dir };
  const t0 = cpuSeconds(t.pid);
  const c1 = await runLoad({ ...base, requests: c1Requests, clients: 1, streams: 1 });
  const t1 = cpuSeconds(t.pid);
  const c64 =
    t.kind === "grpc"
      ? await runLoad({ ...base, requests: c64Requests, clients: 8, streams: CONCURRENCY / 8 })
      : await runLoad({ ...base, requests: c64Requests, clients: CONCURRENCY });
  const t2 = cpuSeconds(t.pid);
  return { c1, c64, cpuC1: ((t1 - t0) * 1e6) / c1Requests, cpuC64: ((t2 - t1) * 1e6) / c64Requests };
}

async function main(): Promise<void> {
  ensureH2load();
  const dir = await mkdtemp(join(tmpdir(), "tei-gateway-bench-"));
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    cleanups.length = 0;
    await rm(dir, { recursive: true, force: true });
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void cleanup().then(() => process.exit(130)));
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(" ");
  try {
    console.log(`machine: ${cpus().length} CPUs, load average ${load()} before start (other load skews every figure)`);
    console.log(`mode: ${QUICK ? "quick" : "full"}, ${ROUNDS} round(s), c=1 ${C1} requests, c=${CONCURRENCY} ${C64} requests (a twentieth for 32 inputs)`);

    // Fake TEIs: one per latency scenario (no compute time), four compute-bound replicas for the split.
    const teis: FakeTei[] = [];
    const latencyTeis = await Promise.all(SCENARIOS.map((s) => startBenchTei(s.modelId)));
    const splitEnv = { FAKE_TEI_COMPUTE_US_PER_TOKEN: String(US_PER_TOKEN), FAKE_TEI_COMPUTE_BATCH_FLOOR_US: String(BATCH_FLOOR_US) };
    const splitTeis = await Promise.all([0, 1, 2, 3].map(() => startBenchTei(SPLIT_MODEL, splitEnv)));
    teis.push(...latencyTeis, ...splitTeis);
    for (const t of teis) cleanups.push(() => t.stop("SIGKILL").then(() => {}));
    const addr = (t: FakeTei) => `127.0.0.1:${t.port}`;

    const routesFile = join(dir, "routes.json");
    const latencyRoutes: BenchRoute[] = SCENARIOS.map((s, i) => ({ instanceName: `lat-${i}`, modelId: s.modelId, address: addr(latencyTeis[i] as FakeTei) }));
    const splitRoutes = (n: number): BenchRoute[] =>
      splitTeis.slice(0, n).map((t, replica) => ({ instanceName: "split", modelId: SPLIT_MODEL, address: addr(t), replica }));
    await writeRoutes(routesFile, [...latencyRoutes, ...splitRoutes(4)], 1);
    const router = await startBenchRouter(routesFile);
    cleanups.push(() => router.stop());
    const naive = await startNaiveGateway(Object.fromEntries(SCENARIOS.map((s, i) => [s.modelId, addr(latencyTeis[i] as FakeTei)])));
    cleanups.push(() => naive.stop());
    const gatewayBase = router.httpPort === undefined ? undefined : `http://127.0.0.1:${router.httpPort}`;
    const machineStart = markMachine([router.pid, naive.pid, ...teis.map((t) => t.pid)]);

    // Targets per scenario, each probed once: a route that does not answer correctly is not measured.
    const files: ScenarioFiles[] = [];
    const targets: Target[][] = [];
    for (const [i, s] of SCENARIOS.entries()) {
      const f = await writeScenario(dir, `s${i}`, s);
      files.push(f);
      const tei = latencyTeis[i] as FakeTei;
      const list: Target[] = [
        { name: "direct gRPC", kind: "grpc", url: `http://${addr(tei)}${f.grpc.path}`, bodyFile: f.grpc.bodyFile, headers: {}, pid: tei.pid },
      ];
      const direct = await createClient(Embed, tei.transport).embed({ inputs: s.inputs[0] as string, truncate: true });
      if (direct.embeddings.length !== s.dim) throw new Error(`direct gRPC to ${s.modelId}: ${direct.embeddings.length} dimensions`);
      for (const [who, base, pid] of [
        ["gateway", gatewayBase, router.pid],
        ["naive", `http://127.0.0.1:${naive.port}`, naive.pid],
      ] as const) {
        for (const route of ROUTES) {
          const spec = f.http[route];
          const url = `${base ?? "http://127.0.0.1:0"}${spec.path}`;
          const unavailable =
            base === undefined
              ? `the router has no HTTP port (${router.httpRefused ?? "refused --http-listen"})`
              : await probe(url, spec.body, spec.headers, route, s);
          list.push({ name: `${who} ${route}`, kind: "h1", url, bodyFile: spec.bodyFile, headers: spec.headers, pid, unavailable });
        }
      }
      targets.push(list);
    }
    const requestsOf = (i: number) => (i === 0 ? { c1: C1, c64: C64 } : { c1: Math.max(50, Math.round(C1 / 20)), c64: Math.max(200, Math.round(C64 / 20)) });

    // Warm-up (JIT, connections), then interleaved rounds.
    for (const [i, list] of targets.entries()) {
      for (const t of list) {
        if (t.unavailable || SPLIT_ONLY) continue;
        const n = i === 0 ? 500 : 100;
        const r = await runLoad({ url: t.url, bodyFile: t.bodyFile, kind: t.kind, headers: t.headers, requests: n, clients: 4, streams: 4, tmpDir: dir });
        if (r.ok !== n) t.unavailable = `warm-up: only ${r.ok}/${n} answers were 2xx`;
      }
    }
    const samples = targets.map((list) => list.map((): Sample[] => []));
    for (let round = 1; round <= (SPLIT_ONLY ? 0 : ROUNDS); round++) {
      process.stdout.write(`round ${round}/${ROUNDS} ...`);
      for (const [i, list] of targets.entries()) {
        const n = requestsOf(i);
        for (const [j, t] of list.entries()) {
          if (t.unavailable) continue;
          samples[i]?.[j]?.push(await sample(t, n.c1, n.c64, dir));
        }
      }
      console.log(` done (load average ${load()})`);
    }

    // The split: one big request over 4 replicas, then (routes file reloaded) over 1.
    let split4: SplitResult | undefined;
    let split1: SplitResult | undefined;
    let splitUnavailable: string | undefined;
    const splitInputs = passages(SPLIT_INPUTS, SPLIT_CHARS);
    const splitBody = JSON.stringify({ model: SPLIT_MODEL, input: splitInputs, encoding_format: "base64" });
    if (gatewayBase === undefined) splitUnavailable = `the router has no HTTP port (${router.httpRefused ?? "refused --http-listen"})`;
    else {
      process.stdout.write(`split: ${SPLIT_INPUTS} inputs over 4 replicas, then 1 ...`);
      split4 = await measureSplit(`${gatewayBase}/v1/embeddings`, splitBody, SPLIT_INPUTS, SPLIT_DIM, splitTeis, router.pid, SPLIT_REPEATS);
      await writeRoutes(routesFile, [...latencyRoutes, ...splitRoutes(1)], 2);
      await router.reload();
      split1 = await measureSplit(`${gatewayBase}/v1/embeddings`, splitBody, SPLIT_INPUTS, SPLIT_DIM, splitTeis, router.pid, SPLIT_REPEATS);
      console.log(" done");
      splitUnavailable = split4.error ?? split1.error;
    }
    const machine = otherLoad(machineStart, markMachine([router.pid, naive.pid, ...teis.map((t) => t.pid)]));

    // ---- Figures ----
    const perRound = (f: (r: number) => number, rounds: number): number => median(Array.from({ length: rounds }, (_, r) => f(r)));
    const addedOf = (i: number, j: number, key: "p50Us" | "meanUs"): number => {
      const d = samples[i]?.[0] ?? [];
      const g = samples[i]?.[j] ?? [];
      return perRound((r) => ((g[r]?.c1[key] ?? Number.NaN) as number) - ((d[r]?.c1[key] ?? Number.NaN) as number), Math.min(d.length, g.length));
    };
    const cpuOf = (i: number, name: string): number => {
      const j = targets[i]?.findIndex((t) => t.name === name) ?? -1;
      return median((samples[i]?.[j] ?? []).map((x) => x.cpuC64));
    };
    for (const [i, s] of SCENARIOS.entries()) {
      const n = requestsOf(i);
      console.log(
        `\n${s.label} (${s.modelId}, ${s.inputs.length === 1 ? `"${s.inputs[0]}"` : `${s.inputs.length} passages of ${(s.inputs[0] as string).length} chars`}): ` +
          `c=1 ${n.c1} sequential requests, c=${CONCURRENCY} ${n.c64}; median of ${ROUNDS} round(s)`,
      );
      console.log(
        `${"".padEnd(30)}${"c=1 p50".padStart(10)}${"mean".padStart(10)}${"added p50".padStart(11)}${"mean".padStart(9)}` +
          `${`c=${CONCURRENCY} req/s`.padStart(13)}${"CPU/req c=1".padStart(13)}${`c=${CONCURRENCY}`.padStart(9)}`,
      );
      for (const [j, t] of (targets[i] ?? []).entries()) {
        if (t.unavailable) {
          console.log(`${t.name.padEnd(30)}not available: ${t.unavailable}`);
          continue;
        }
        const rows = samples[i]?.[j] ?? [];
        const errors = rows.reduce((e, x) => e + (x.c1.requests - x.c1.ok) + (x.c64.requests - x.c64.ok), 0);
        console.log(
          `${t.name.padEnd(30)}${us(median(rows.map((x) => x.c1.p50Us))).padStart(10)}${us(median(rows.map((x) => x.c1.meanUs))).padStart(10)}` +
            `${(j === 0 ? "" : us(addedOf(i, j, "p50Us"))).padStart(11)}${(j === 0 ? "" : us(addedOf(i, j, "meanUs"))).padStart(9)}` +
            `${rps(median(rows.map((x) => x.c64.reqPerSec))).padStart(13)}${us(median(rows.map((x) => x.cpuC1))).padStart(13)}${us(median(rows.map((x) => x.cpuC64))).padStart(9)}` +
            (errors > 0 ? `  (${errors} non-2xx)` : ""),
        );
      }
    }
    console.log("(added: c=1 latency minus direct gRPC's, paired per round. CPU/req: CPU time of that process per request:");
    console.log(" the fake TEI for direct gRPC, the router process for gateway, the naive gateway's process for naive)");

    console.log(
      `\nBatch split: one /v1/embeddings request (base64) of ${SPLIT_INPUTS} inputs × ~${SPLIT_CHARS + 2} tokens, ${SPLIT_MODEL} (${SPLIT_DIM}), ` +
        `fake TEI compute ${US_PER_TOKEN} µs/token, batch floor ${BATCH_FLOOR_US} µs, median of ${SPLIT_REPEATS}`,
    );
    const splitRatio = split4 && split1 && !splitUnavailable ? split1.medianMs / split4.medianMs : undefined;
    if (splitUnavailable) console.log(`  not available: ${splitUnavailable}`);
    else {
      for (const [label, r] of [
        ["over 4 replicas", split4],
        ["over 1 replica ", split1],
      ] as const) {
        console.log(
          `  ${label}: ${r?.medianMs.toFixed(0)} ms   (inputs per replica over the run: ${r?.perReplica.join(" / ")}; ` +
            `CPU per request: router ${r?.gatewayCpuMs.toFixed(0)} ms, fake TEIs ${r?.teiCpuMs.toFixed(0)} ms)`,
        );
      }
      const ideal = (SPLIT_INPUTS * (SPLIT_CHARS + 2) * US_PER_TOKEN) / 1000;
      console.log(
        `  device time of the request's tokens: ${ideal.toFixed(0)} ms on one replica, ${(ideal / 4).toFixed(0)} ms each on four; speed-up ${splitRatio?.toFixed(2)}x`,
      );
      console.log(
        "  (the compute time per token is set so the simulated device, not the fake TEIs' own CPU, bounds a replica, as a GPU does;\n" +
          "   each fake TEI spends about 1 ms of CPU per unary Embed in its Connect server, which a real TEI does not, and the machine is shared)",
      );
    }

    // ---- Targets ----
    console.log("\nTargets (issue 11):");
    const jB64 = targets[0]?.findIndex((t) => t.name === "gateway /v1/embeddings base64") ?? -1;
    const b64Available = !targets[0]?.[jB64]?.unavailable;
    const addedP50 = b64Available ? addedOf(0, jB64, "p50Us") : Number.NaN;
    const addedMean = b64Available ? addedOf(0, jB64, "meanUs") : Number.NaN;
    console.log(
      `  added latency at c=1 ≤ 150 µs (1 × 384, base64): p50 ${us(addedP50)} (mean ${us(addedMean)})  ${verdict(Number.isFinite(addedP50) ? addedP50 <= 150 : undefined)}`,
    );
    for (const [i, s] of SCENARIOS.entries()) {
      for (const route of ROUTES) {
        const g = targets[i]?.find((t) => t.name === `gateway ${route}`);
        const nv = targets[i]?.find((t) => t.name === `naive ${route}`);
        const [gc, nc] = [cpuOf(i, `gateway ${route}`), cpuOf(i, `naive ${route}`)];
        const ok = g?.unavailable || nv?.unavailable || !Number.isFinite(gc) || !Number.isFinite(nc) ? undefined : gc <= nc / 2;
        const ratio = ok === undefined ? "–" : `${((100 * cpuOf(i, `gateway ${route}`)) / cpuOf(i, `naive ${route}`)).toFixed(0)}% of naive`;
        console.log(
          `  CPU/request ≤ ½ naive's, ${s.label.padEnd(9)} ${route.padEnd(22)}: ${us(cpuOf(i, `gateway ${route}`))} vs ${us(cpuOf(i, `naive ${route}`))} (${ratio})  ${verdict(ok)}`,
        );
      }
    }
    console.log(
      `  ${SPLIT_INPUTS} inputs over 4 replicas ≥ 3× faster than over 1: ${splitRatio === undefined ? "–" : `${splitRatio.toFixed(2)}x`}  ${verdict(splitRatio === undefined ? undefined : splitRatio >= 3)}`,
    );
    console.log(
      `\nother load: processes outside the benchmark used ${machine.otherSeconds.toFixed(1)} CPU-s of the machine's ` +
        `${(machine.wallSeconds * cpus().length).toFixed(0)} during the ${machine.wallSeconds.toFixed(0)} s run ` +
        `(${(machine.otherShare * 100).toFixed(0)}% of ${cpus().length} CPUs); load average at the end ${load()}`,
    );
  } finally {
    await cleanup();
  }
}

await main();
