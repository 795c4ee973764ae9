import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROUTER_NODE_FLAGS } from "../../router/src/process-tuning.ts";
import { freePort } from "./free-port.ts";
import { type RedisServer, startRedisServer } from "./redis-server.ts";
import { type ServiceProcess, startServiceProcess } from "./service-process.ts";

const root = new URL("../..", import.meta.url).pathname;

/** Paths of the services' entry points and of the fake TEI. */
export const paths = {
  controlPlane: join(root, "control-plane/src/main.ts"),
  nodeAgent: join(root, "node-agent/src/main.ts"),
  router: join(root, "router/src/main.ts"),
  fakeTei: join(root, "test/fake-tei/bin/text-embeddings-router"),
};

/** How to shape a local fleet. Every part runs as a real process on this machine. */
export interface LocalFleetOptions {
  /** Number of node agents (default 2). Agent i advertises 127.0.0.(i+1). */
  agents?: number;
  /** Declared GPU inventory of every agent (default "2x81920": two 80 GiB GPUs). */
  gpus?: string;
  /** Number of routers (default 1). */
  routers?: number;
  /** Start each router's HTTP gateway on a free port (`--http-listen`; default false). */
  gateway?: boolean;
  /** Extra router arguments. */
  routerArgs?: string[];
  /** Extra environment for agents, e.g. FAKE_TEI_* fault injection (passed through to TEI). */
  agentEnv?: NodeJS.ProcessEnv;
  /**
   * Extra environment for single agents, by index, on top of `agentEnv` (kept across
   * restartAgent): a fault on one node only, e.g. `[{ FAKE_TEI_EXIT_AT_START: "1" }]` for node-a.
   */
  agentEnvByIndex?: NodeJS.ProcessEnv[];
  /** Extra agent arguments. */
  agentArgs?: string[];
  /** Extra control-plane environment (intervals, limits). */
  controlPlaneEnv?: NodeJS.ProcessEnv;
  /** Use this Redis instead of starting one. */
  redis?: RedisServer;
  /** Start the fleet's own Redis with an fsync'd append-only file (survives kill and restart). */
  persistentRedis?: boolean;
}

/** One node agent of the fleet. */
export interface FleetAgent {
  name: string;
  address: string;
  listenUrl: string;
  stateDir: string;
  process: ServiceProcess;
}

/** One router of the fleet. */
export interface FleetRouter {
  /** host:port of its gRPC listener. */
  address: string;
  url: string;
  metricsUrl: string;
  /** `http://host:port` of its HTTP gateway (TEI's HTTP API, OpenAI); set with `gateway: true`. */
  httpUrl?: string;
  process: ServiceProcess;
}

/** A running local fleet and the handles tests use to poke it. */
export interface LocalFleet {
  dir: string;
  redis: RedisServer;
  adminToken: string;
  joinToken: string;
  controlPlaneUrl: string;
  controlPlane: ServiceProcess;
  agents: FleetAgent[];
  routers: FleetRouter[];
  /** Calls the control plane's REST API with the admin token. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read any JSON answer by its fields
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  /** Starts agent i again (after it was stopped or killed) with the same name, address and state. */
  restartAgent(i: number): Promise<FleetAgent>;
  /** Starts the control plane again on the same port. */
  restartControlPlane(): Promise<void>;
  /** Stops the control plane (SIGTERM) until startControlPlane(). */
  stopControlPlane(): Promise<void>;
  /** Starts the control plane on its port after stopControlPlane(). */
  startControlPlane(): Promise<void>;
  /** Stops every process (routers, agents, control plane, then Redis) and removes the directory. */
  stop(): Promise<void>;
}

/**
 * Brings up Redis, a control plane, node agents running the fake TEI, and routers, each a real
 * process with its log in `<dir>/logs`, and waits until each one answers.
 */
export async function startLocalFleet(options: LocalFleetOptions = {}): Promise<LocalFleet> {
  const dir = mkdtempSync(join(tmpdir(), "tei-fleet-"));
  mkdirSync(join(dir, "logs"));
  const ownsRedis = !options.redis;
  const redis = options.redis ?? (await startRedisServer({ persistent: options.persistentRedis }));
  const adminToken = `adm_${randomBytes(16).toString("hex")}`;
  const joinToken = `join_${randomBytes(16).toString("hex")}`;
  const cpPort = await freePort();
  const controlPlaneUrl = `http://127.0.0.1:${cpPort}`;
  // The fleet's secrets key, on the control plane and every router: upstream API keys of remote
  // backends are stored in Redis and sent to routers sealed with it.
  const secretsKey = randomBytes(32).toString("base64");
  const tokens = { TEI_FLEET_ADMIN_TOKEN: adminToken, TEI_FLEET_JOIN_TOKEN: joinToken, TEI_FLEET_SECRETS_KEY: secretsKey };
  const log = (name: string) => join(dir, "logs", `${name}.log`);

  const launchControlPlane = () =>
    startServiceProcess({
      name: "control-plane",
      script: paths.controlPlane,
      args: ["--listen", `127.0.0.1:${cpPort}`, "--redis", redis.url, "--data-dir", join(dir, "control-plane")],
      env: { ...tokens, ...options.controlPlaneEnv },
      logFile: log("control-plane"),
      readyUrl: `${controlPlaneUrl}/health`,
    });
  const controlPlane = await launchControlPlane();

  // Port ranges differ per fleet so that concurrent fleets on one machine rarely collide, and stay
  // below Linux's ephemeral range (32768-60999): a TEI port taken by some client socket's local
  // port would fail its start with "port taken".
  const portBase = 20_000 + Math.floor(Math.random() * 120) * 100;
  const agentPorts: number[] = [];
  const launchAgent = async (i: number): Promise<FleetAgent> => {
    const name = `node-${String.fromCharCode(97 + i)}`;
    const address = `127.0.0.${i + 1}`;
    agentPorts[i] ??= await freePort();
    const listenUrl = `http://127.0.0.1:${agentPorts[i]}`;
    const stateDir = join(dir, name);
    const process = await startServiceProcess({
      name,
      script: paths.nodeAgent,
      args: [
        "--control-plane",
        controlPlaneUrl,
        "--node-name",
        name,
        "--advertise-address",
        address,
        "--tei-binary",
        paths.fakeTei,
        "--gpus",
        options.gpus ?? "2x81920",
        "--listen",
        `127.0.0.1:${agentPorts[i]}`,
        "--state-dir",
        stateDir,
        "--port-range",
        `${portBase}-${portBase + 99}`,
        "--pass-env",
        "FAKE_TEI_*",
        ...(options.agentArgs ?? []),
      ],
      env: { TEI_FLEET_JOIN_TOKEN: joinToken, ...options.agentEnv, ...options.agentEnvByIndex?.[i] },
      logFile: log(name),
      readyUrl: `${listenUrl}/healthz`,
    });
    return { name, address, listenUrl, stateDir, process };
  };
  const agents: FleetAgent[] = [];
  for (let i = 0; i < (options.agents ?? 2); i++) agents.push(await launchAgent(i));

  const routers: FleetRouter[] = [];
  for (let i = 0; i < (options.routers ?? 1); i++) {
    const port = await freePort();
    const metricsPort = await freePort();
    const httpPort = options.gateway ? await freePort() : 0;
    const gatewayArgs = options.gateway ? ["--http-listen", `127.0.0.1:${httpPort}`] : [];
    const process = await startServiceProcess({
      name: `router-${i}`,
      script: paths.router,
      nodeFlags: ROUTER_NODE_FLAGS,
      args: [
        "--listen",
        `127.0.0.1:${port}`,
        "--control-plane",
        controlPlaneUrl,
        "--metrics-listen",
        `127.0.0.1:${metricsPort}`,
        ...gatewayArgs,
        ...(options.routerArgs ?? []),
      ],
      env: { TEI_FLEET_JOIN_TOKEN: joinToken, TEI_FLEET_SECRETS_KEY: secretsKey },
      logFile: log(`router-${i}`),
      readyUrl: `http://127.0.0.1:${metricsPort}/healthz`,
    });
    routers.push({
      address: `127.0.0.1:${port}`,
      url: `http://127.0.0.1:${port}`,
      metricsUrl: `http://127.0.0.1:${metricsPort}`,
      ...(options.gateway ? { httpUrl: `http://127.0.0.1:${httpPort}` } : {}),
      process,
    });
  }

  const fleet: LocalFleet = {
    dir,
    redis,
    adminToken,
    joinToken,
    controlPlaneUrl,
    controlPlane,
    agents,
    routers,
    async api(method, path, body, headers = {}) {
      const res = await fetch(`${controlPlaneUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed };
    },
    async restartAgent(i) {
      agents[i] = await launchAgent(i);
      return agents[i]!;
    },
    async restartControlPlane() {
      await fleet.stopControlPlane();
      await fleet.startControlPlane();
    },
    stopControlPlane: () => fleet.controlPlane.stop(),
    async startControlPlane() {
      fleet.controlPlane = await launchControlPlane();
    },
    async stop() {
      for (const r of routers) await r.process.stop();
      // Agents stop their TEI processes on SIGTERM (the default --stop-instances-on-exit).
      await Promise.all(agents.map((a) => a.process.stop(15_000)));
      await fleet.controlPlane.stop();
      if (ownsRedis) await redis.stop();
      if (!process.env.TEI_FLEET_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
    },
  };
  return fleet;
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
