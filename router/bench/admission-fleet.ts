/**
 * The fleet of `pnpm bench:admission`: the harness's Redis, control plane and one node agent
 * running the fake TEI (test/harness), two instances (one answering at once, one with simulated
 * compute time from a faults file keyed by model), and sets of three real router processes
 * started with the flags each measurement needs, all taking routes and rate-limit shares from
 * the control plane.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashApiKey } from "@tei-fleet/core/keys";
import { freePort, type LocalFleet, paths, type ServiceProcess, startLocalFleet, startServiceProcess, waitFor } from "../../test/harness/index.ts";
import { ROUTER_NODE_FLAGS } from "../src/process-tuning.ts";

/** The model the rate-limit measurement calls (no compute time: TEI is never the bottleneck). */
export const FAST_MODEL = "BAAI/bge-small-en-v1.5";
/** The model the overload measurement saturates (simulated compute time on one replica). */
export const SLOW_MODEL = "BAAI/bge-base-en-v1.5";

/** A bench API key: the secret the load sends, the id its limits count under. */
export interface BenchKey {
  readonly id: string;
  readonly name: string;
  readonly secret: string;
  readonly requestsPerSecond: number;
  readonly burst: number;
}

/** A running set of routers. */
export interface RouterSet {
  readonly urls: string[];
  stop(): Promise<void>;
}

/** The running bench fleet. */
export interface BenchFleet {
  readonly fleet: LocalFleet;
  /** Starts `count` routers with `args` on top of the control plane's URL and fresh ports. */
  startRouters(count: number, args: string[]): Promise<RouterSet>;
  /** Writes an API keys file (hashes and limits) and returns its path. */
  writeKeys(keys: readonly BenchKey[]): string;
  stop(): Promise<void>;
}

/** A key with a random secret. */
export function benchKey(id: string, requestsPerSecond: number, burst: number): BenchKey {
  return { id, name: id, secret: `bench_${randomBytes(16).toString("hex")}`, requestsPerSecond, burst };
}

/** Starts the fleet: `computeUsPerToken` of simulated compute on SLOW_MODEL's replica. */
export async function startBenchFleet(computeUsPerToken: number): Promise<BenchFleet> {
  const faultsFile = join(process.env.TMPDIR ?? "/tmp", `bench-admission-faults-${process.pid}.json`);
  writeFileSync(faultsFile, JSON.stringify({ [SLOW_MODEL]: { computeUsPerToken } }));
  const fleet = await startLocalFleet({ agents: 1, routers: 0, agentEnv: { FAKE_TEI_FAULTS_FILE: faultsFile } });
  for (const [name, model] of [
    ["fast", FAST_MODEL],
    ["slow", SLOW_MODEL],
  ] as const) {
    const res = await fleet.api("POST", "/instances", { name, model_id: model, replicas: 1 });
    if (res.status !== 201) throw new Error(`creating instance ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  await waitFor(
    "both instances running",
    async () => {
      for (const name of ["fast", "slow"]) if ((await fleet.api("GET", `/instances/${name}`)).body?.status !== "running") return false;
      return true;
    },
    90_000,
  );
  let seq = 0;
  return {
    fleet,
    async startRouters(count, args) {
      const procs: ServiceProcess[] = [];
      const urls: string[] = [];
      const set = seq++;
      for (let i = 0; i < count; i++) {
        const port = await freePort();
        const metricsPort = await freePort();
        procs.push(
          await startServiceProcess({
            name: `router-${set}-${i}`,
            script: paths.router,
            nodeFlags: ROUTER_NODE_FLAGS,
            args: ["--listen", `127.0.0.1:${port}`, "--control-plane", fleet.controlPlaneUrl, "--metrics-listen", `127.0.0.1:${metricsPort}`, ...args],
            env: { TEI_FLEET_JOIN_TOKEN: fleet.joinToken },
            logFile: join(fleet.dir, "logs", `router-${set}-${i}.log`),
            // Ready once it has a route table with both instances' routes.
            readyUrl: `http://127.0.0.1:${metricsPort}/readyz`,
            readyTimeoutMs: 30_000,
          }),
        );
        urls.push(`http://127.0.0.1:${port}`);
      }
      return {
        urls,
        async stop() {
          await Promise.all(procs.map((p) => p.stop(5000)));
        },
      };
    },
    writeKeys(keys) {
      const path = join(fleet.dir, `api-keys-${seq}.json`);
      const body = keys.map((k) => ({
        id: k.id,
        name: k.name,
        hash: hashApiKey(k.secret),
        limits: { requestsPerSecond: k.requestsPerSecond, burst: k.burst },
      }));
      writeFileSync(path, JSON.stringify({ keys: body }));
      return path;
    },
    async stop() {
      await fleet.stop();
    },
  };
}
