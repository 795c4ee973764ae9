import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isNodeName, NODE_NAME_RULE } from "@tei-fleet/core";
import { z } from "zod";
import { parseDeclaredGpus } from "./gpu-inventory.ts";
import type { RestartPolicy } from "./restart-backoff.ts";
import type { SupervisorTiming } from "./supervisor-options.ts";
import { DEFAULT_PASS_ENV, passEnvPatternError } from "./tei-env.ts";

/**
 * The agent's configuration: command-line flags first, then TEI_FLEET_* environment variables
 * (what the systemd unit's env file sets), then defaults. Validated with zod; a bad value stops
 * the agent with a message naming the flag.
 */

/** Raw option values as the CLI collects them (strings, before validation). */
export interface RawAgentOptions {
  controlPlane?: string;
  nodeName?: string;
  advertiseAddress?: string;
  teiBinary?: string;
  gpus?: string;
  label?: string[];
  listen?: string;
  stateDir?: string;
  portRange?: string;
  passEnv?: string[];
  stopInstancesOnExit?: string;
  capacity?: string;
  heartbeatIntervalMs?: string;
  probeIntervalMs?: string;
  probeTimeoutMs?: string;
  probeFailureThreshold?: string;
  startupTimeoutSecs?: string;
  stopGraceMs?: string;
  unhealthyDrainMs?: string;
  restartBackoffInitialMs?: string;
  restartBackoffMaxMs?: string;
  crashLoopFailures?: string;
  crashLoopWindowMs?: string;
  shutdownDrainMs?: string;
  logLevel?: string;
}

/** The validated configuration. */
export interface AgentConfig {
  controlPlaneUrl: string;
  /** From TEI_FLEET_JOIN_TOKEN only (never a flag: flags show up in `ps`). */
  joinToken: string | undefined;
  nodeName: string;
  advertiseAddress: string;
  teiBinary: string;
  /** Declared inventory; undefined means "ask nvidia-smi". */
  gpus: { count: number; memoryMb: number } | undefined;
  labels: Record<string, string>;
  listen: { host: string; port: number };
  stateDir: string;
  portRange: { start: number; end: number };
  passEnv: string[];
  stopInstancesOnExit: boolean;
  capacity: number;
  /** Overrides the control plane's heartbeat interval when set. */
  heartbeatIntervalMs: number | undefined;
  /** Time between reporting every replica `stopping` and stopping them, on SIGTERM. */
  shutdownDrainMs: number;
  timing: Required<Pick<SupervisorTiming, "probeIntervalMs" | "probeTimeoutMs" | "probeFailureThreshold" | "defaultStartupTimeoutMs" | "stopGraceMs" | "unhealthyDrainMs">>;
  restartPolicy: RestartPolicy;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace";
}

/** Default agent HTTP port (logs, metrics, health). */
export const DEFAULT_AGENT_PORT = 9101;

const int = (flag: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number({ error: `${flag} must be a number` }).int(`${flag} must be a whole number`).min(min, `${flag} must be at least ${min}`).max(max, `${flag} must be at most ${max}`);

const Schema = z.object({
  controlPlane: z.url({ protocol: /^https?$/, error: "--control-plane must be an http(s) URL, e.g. http://10.0.0.1:9000" }),
  // The control plane registers and pins nodes by the same rule (@tei-fleet/core): a name it would
  // refuse stops the agent here, with this message, instead of failing every registration.
  nodeName: z.string({ error: "--node-name is required" }).refine(isNodeName, `--node-name must be ${NODE_NAME_RULE} (case-sensitive)`),
  advertiseAddress: z.string({ error: "--advertise-address is required" }).refine((v) => isIP(v) !== 0, "--advertise-address must be an IP address (TEI's --hostname accepts only IPs)"),
  teiBinary: z.string({ error: "--tei-binary is required" }).min(1, "--tei-binary is required"),
  stopInstancesOnExit: z.enum(["true", "false"], { error: "--stop-instances-on-exit must be true or false" }),
  capacity: int("--capacity", 1, 10_000),
  heartbeatIntervalMs: int("--heartbeat-interval-ms", 100, 600_000).optional(),
  probeIntervalMs: int("--probe-interval-ms", 50, 3_600_000),
  probeTimeoutMs: int("--probe-timeout-ms", 10, 600_000),
  probeFailureThreshold: int("--probe-failure-threshold", 1, 1000),
  startupTimeoutSecs: int("--startup-timeout-secs", 1, 86_400),
  stopGraceMs: int("--stop-grace-ms", 0, 3_600_000),
  unhealthyDrainMs: int("--unhealthy-drain-ms", 0, 600_000),
  restartBackoffInitialMs: int("--restart-backoff-initial-ms", 0, 3_600_000),
  restartBackoffMaxMs: int("--restart-backoff-max-ms", 0, 86_400_000),
  crashLoopFailures: int("--crash-loop-failures", 1, 1000),
  crashLoopWindowMs: int("--crash-loop-window-ms", 1, 86_400_000),
  shutdownDrainMs: int("--shutdown-drain-ms", 0, 600_000),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace"], { error: "--log-level must be fatal, error, warn, info, debug or trace" }),
});

/** A configuration problem; the message names the flag. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Reads flags, then the environment, then defaults; throws {@link ConfigError}. */
export function resolveConfig(raw: RawAgentOptions, env: Readonly<Record<string, string | undefined>>): AgentConfig {
  const pick = (flag: string | undefined, name: string, fallback?: string) => flag ?? (env[name] || undefined) ?? fallback;
  const listSplit = (v: string | undefined) => (v ? v.split(",").map((s) => s.trim()).filter(Boolean) : []);

  const parsed = Schema.safeParse({
    controlPlane: pick(raw.controlPlane, "TEI_FLEET_CONTROL_PLANE"),
    nodeName: pick(raw.nodeName, "TEI_FLEET_NODE_NAME"),
    advertiseAddress: pick(raw.advertiseAddress, "TEI_FLEET_ADVERTISE_ADDRESS"),
    teiBinary: pick(raw.teiBinary, "TEI_FLEET_TEI_BINARY"),
    stopInstancesOnExit: pick(raw.stopInstancesOnExit, "TEI_FLEET_STOP_INSTANCES_ON_EXIT", "true"),
    capacity: pick(raw.capacity, "TEI_FLEET_CAPACITY", "64"),
    heartbeatIntervalMs: pick(raw.heartbeatIntervalMs, "TEI_FLEET_HEARTBEAT_INTERVAL_MS"),
    probeIntervalMs: pick(raw.probeIntervalMs, "TEI_FLEET_PROBE_INTERVAL_MS", "5000"),
    probeTimeoutMs: pick(raw.probeTimeoutMs, "TEI_FLEET_PROBE_TIMEOUT_MS", "5000"),
    probeFailureThreshold: pick(raw.probeFailureThreshold, "TEI_FLEET_PROBE_FAILURE_THRESHOLD", "3"),
    startupTimeoutSecs: pick(raw.startupTimeoutSecs, "TEI_FLEET_STARTUP_TIMEOUT_SECS", "600"),
    stopGraceMs: pick(raw.stopGraceMs, "TEI_FLEET_STOP_GRACE_MS", "10000"),
    unhealthyDrainMs: pick(raw.unhealthyDrainMs, "TEI_FLEET_UNHEALTHY_DRAIN_MS", "2000"),
    restartBackoffInitialMs: pick(raw.restartBackoffInitialMs, "TEI_FLEET_RESTART_BACKOFF_INITIAL_MS", "1000"),
    restartBackoffMaxMs: pick(raw.restartBackoffMaxMs, "TEI_FLEET_RESTART_BACKOFF_MAX_MS", "300000"),
    crashLoopFailures: pick(raw.crashLoopFailures, "TEI_FLEET_CRASH_LOOP_FAILURES", "5"),
    crashLoopWindowMs: pick(raw.crashLoopWindowMs, "TEI_FLEET_CRASH_LOOP_WINDOW_MS", "600000"),
    shutdownDrainMs: pick(raw.shutdownDrainMs, "TEI_FLEET_SHUTDOWN_DRAIN_MS", "2000"),
    logLevel: pick(raw.logLevel, "TEI_FLEET_LOG_LEVEL", "info"),
  });
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => i.message).join("; "));
  }
  const c = parsed.data;

  let gpus: AgentConfig["gpus"];
  const gpuDecl = pick(raw.gpus, "TEI_FLEET_GPUS");
  if (gpuDecl) {
    try {
      gpus = parseDeclaredGpus(gpuDecl);
    } catch (error) {
      throw new ConfigError((error as Error).message);
    }
  }

  const labels: Record<string, string> = {};
  for (const item of raw.label ?? listSplit(env.TEI_FLEET_LABELS)) {
    const eq = item.indexOf("=");
    const key = eq > 0 ? item.slice(0, eq).trim() : "";
    if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/.test(key)) {
      throw new ConfigError(`--label ${JSON.stringify(item)} must be key=value with a key of letters, digits, '.', '_', '/' or '-'`);
    }
    labels[key] = item.slice(eq + 1).trim();
  }

  const passEnv = [...DEFAULT_PASS_ENV];
  for (const p of raw.passEnv ?? listSplit(env.TEI_FLEET_PASS_ENV)) {
    const problem = passEnvPatternError(p);
    if (problem) throw new ConfigError(problem);
    if (!passEnv.includes(p)) passEnv.push(p);
  }

  const portRange = parsePortRange(pick(raw.portRange, "TEI_FLEET_PORT_RANGE", "20000-20999") ?? "");
  const listen = parseListen(pick(raw.listen, "TEI_FLEET_AGENT_LISTEN") ?? `${bracket(c.advertiseAddress)}:${DEFAULT_AGENT_PORT}`);
  const stateDir = pick(raw.stateDir, "TEI_FLEET_STATE_DIR") ?? defaultStateDir(c.nodeName);

  return {
    controlPlaneUrl: c.controlPlane.replace(/\/+$/, ""),
    joinToken: env.TEI_FLEET_JOIN_TOKEN || undefined,
    nodeName: c.nodeName,
    advertiseAddress: c.advertiseAddress,
    teiBinary: c.teiBinary,
    gpus,
    labels,
    listen,
    stateDir,
    portRange,
    passEnv,
    stopInstancesOnExit: c.stopInstancesOnExit === "true",
    capacity: c.capacity,
    heartbeatIntervalMs: c.heartbeatIntervalMs,
    shutdownDrainMs: c.shutdownDrainMs,
    timing: {
      probeIntervalMs: c.probeIntervalMs,
      probeTimeoutMs: c.probeTimeoutMs,
      probeFailureThreshold: c.probeFailureThreshold,
      defaultStartupTimeoutMs: c.startupTimeoutSecs * 1000,
      stopGraceMs: c.stopGraceMs,
      unhealthyDrainMs: c.unhealthyDrainMs,
    },
    restartPolicy: {
      initialDelayMs: c.restartBackoffInitialMs,
      maxDelayMs: Math.max(c.restartBackoffMaxMs, c.restartBackoffInitialMs),
      crashLoopFailures: c.crashLoopFailures,
      crashLoopWindowMs: c.crashLoopWindowMs,
    },
    logLevel: c.logLevel,
  };
}

/** Parses `A-B` (inclusive TCP port range). */
export function parsePortRange(value: string): { start: number; end: number } {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(value.trim());
  const start = Number(m?.[1]);
  const end = Number(m?.[2]);
  if (!m || start < 1 || end > 65535 || start > end) {
    throw new ConfigError(`--port-range ${JSON.stringify(value)} must be START-END with 1 <= START <= END <= 65535`);
  }
  if (end - start + 1 < 2) throw new ConfigError(`--port-range ${value} must hold at least 2 ports (TEI needs a gRPC and a Prometheus port)`);
  return { start, end };
}

/** Parses `HOST:PORT` or `[v6]:PORT`. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:]+)):(\d{1,5})$/.exec(value.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new ConfigError(`--listen ${JSON.stringify(value)} must be HOST:PORT, e.g. 0.0.0.0:${DEFAULT_AGENT_PORT}`);
  return { host: (m[1] ?? m[2]) as string, port };
}

function bracket(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** /var/lib/tei-fleet/agent/<node> for root, else a per-node directory under the temp dir. */
export function defaultStateDir(nodeName: string): string {
  return process.getuid?.() === 0 ? join("/var/lib/tei-fleet/agent", nodeName) : join(tmpdir(), "tei-fleet-agent", nodeName);
}
