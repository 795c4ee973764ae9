/**
 * The processes of `pnpm bench:gateway`: fake TEIs (test/fake-tei, through its launcher), the
 * real router binary (router/src/main.ts) with a routes file and, when it has one, its HTTP
 * gateway port (`--http-listen`), and the naive baseline gateway (gateway-naive/). Each start
 * returns the pid whose /proc CPU time the benchmark reads, and a stop.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { type FakeTei, startFakeTei } from "../../test/fake-tei/launcher.ts";
import { freePort } from "../../test/harness/free-port.ts";
import { ROUTER_NODE_FLAGS } from "../src/process-tuning.ts";

const ROUTER_MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const NAIVE_MAIN = fileURLToPath(new URL("./gateway-naive/naive-gateway.ts", import.meta.url));

/**
 * TEI's default of 512 permits counts inputs: 64 concurrent 32-input requests hold 2,048 and get
 * RESOURCE_EXHAUSTED from a real TEI too. The benchmark measures the gateways, not TEI's
 * admission, so its fake TEIs take more.
 */
const BENCH_MAX_CONCURRENT_REQUESTS = 8192;

/** Starts one fake TEI on free ports with extra FAKE_TEI_* settings. */
export function startBenchTei(modelId: string, env: Record<string, string> = {}): Promise<FakeTei> {
  return startFakeTei({ modelId, env, args: ["--max-concurrent-requests", String(BENCH_MAX_CONCURRENT_REQUESTS)], timeoutMs: 30_000 });
}

/** One row of the router's routes file. */
export interface BenchRoute {
  instanceName: string;
  modelId: string;
  address: string;
  replica?: number;
}

/** Writes a routes file (version `version`). */
export async function writeRoutes(path: string, routes: BenchRoute[], version: number): Promise<void> {
  const rows = routes.map((r, i) => ({ node: "bench", assignmentId: `bench-${i}`, replica: 0, ...r }));
  await writeFile(path, JSON.stringify({ version, routes: rows }));
}

/** A running router. */
export interface BenchRouter {
  pid: number;
  grpcPort: number;
  /** The HTTP gateway's port, or undefined when the router refused --http-listen. */
  httpPort: number | undefined;
  /** Why the router runs without its gateway port (its own error line), when it does. */
  httpRefused?: string;
  /** Re-reads the routes file (SIGHUP) and waits a moment for it to apply. */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

/** Spawns the router and waits for `router listening`; rejects with its output if it exits. */
async function spawnRouter(args: string[]): Promise<{ child: ChildProcess; exited: Promise<void> }> {
  const child = spawn(process.execPath, [...ROUTER_NODE_FLAGS, ROUTER_MAIN, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let log = "";
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`router did not start in 20 s:\n${log}`)), 20_000);
    const onData = (d: Buffer) => {
      log += d.toString();
      if (log.includes("router listening")) {
        clearTimeout(t);
        // From here on its log (per-request lines, if any) is drained, not kept.
        child.stderr?.off("data", onData);
        child.stderr?.resume();
        resolve();
      }
    };
    child.stderr?.on("data", onData);
    child.once("exit", () => {
      clearTimeout(t);
      reject(new Error(log.trim() || "router exited"));
    });
  });
  return { child, exited };
}

/**
 * Starts router/src/main.ts on free ports with `routesFile`, asking for the HTTP gateway on
 * another free port; if the router refuses that flag (gateway not built in), starts it without.
 */
export async function startBenchRouter(routesFile: string): Promise<BenchRouter> {
  const [grpcPort, metricsPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  const base = ["--listen", `127.0.0.1:${grpcPort}`, "--metrics-listen", `127.0.0.1:${metricsPort}`, "--routes-file", routesFile];
  let started: { child: ChildProcess; exited: Promise<void> };
  let httpRefused: string | undefined;
  try {
    started = await spawnRouter([...base, "--http-listen", `127.0.0.1:${httpPort}`]);
  } catch (err) {
    httpRefused = (err as Error).message.split("\n")[0];
    started = await spawnRouter(base);
  }
  const { child, exited } = started;
  return {
    pid: child.pid ?? 0,
    grpcPort,
    httpPort: httpRefused === undefined ? httpPort : undefined,
    httpRefused,
    async reload() {
      child.kill("SIGHUP");
      await new Promise((r) => setTimeout(r, 500));
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      await exited;
    },
  };
}

/** A running naive gateway. */
export interface NaiveGateway {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

/** Starts gateway-naive/naive-gateway.ts serving `backends` (model id → TEI host:port). */
export async function startNaiveGateway(backends: Record<string, string>): Promise<NaiveGateway> {
  const port = await freePort();
  const args = [NAIVE_MAIN, "--listen", `127.0.0.1:${port}`, ...Object.entries(backends).flatMap(([m, a]) => ["--backend", `${m}=${a}`])];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let log = "";
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`naive gateway did not start:\n${log}`)), 20_000);
    child.stderr?.on("data", (d: Buffer) => {
      log += d.toString();
      if (log.includes("naive gateway listening")) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once("exit", () => reject(new Error(`naive gateway exited:\n${log}`)));
  });
  return {
    pid: child.pid ?? 0,
    port,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Stops a fake TEI started by startBenchTei. */
export async function stopTei(tei: FakeTei): Promise<void> {
  await tei.stop("SIGKILL");
}
