import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isNodeName, NODE_NAME_RULE } from "@tei-fleet/core";
import {
  booleanText,
  ConfigError,
  type ConfigOption,
  type Environment,
  type FlagValues,
  fromParser,
  hostPort,
  httpUrl,
  integer,
  type LogLevel,
  logLevel,
  type OptionTable,
  resolveOptions,
} from "@tei-fleet/core/service";
import { z } from "zod";
import { parseDeclaredGpus } from "./gpu-inventory.ts";
import type { RestartPolicy } from "./restart-backoff.ts";
import type { SupervisorTiming } from "./supervisor-options.ts";
import { DEFAULT_PASS_ENV, passEnvPatternError } from "./tei-env.ts";

/**
 * The agent's configuration: command-line flags first, then their TEI_FLEET_* environment twins
 * (what the systemd unit's env file sets), then defaults, all from one option table
 * (`@tei-fleet/core/service`). A bad value stops the agent with a message naming the flag and
 * the variable.
 */

export { ConfigError };

/** Default agent HTTP port (logs, metrics, health). */
export const DEFAULT_AGENT_PORT = 9101;

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;

/** `k=v` items into labels; a key the control plane's node selectors could not match is refused. */
const labels = z
  .array(z.string())
  .default([])
  .transform((items, ctx) => {
    const out: Record<string, string> = {};
    for (const item of items) {
      const eq = item.indexOf("=");
      const key = eq > 0 ? item.slice(0, eq).trim() : "";
      if (!LABEL_KEY.test(key)) {
        ctx.addIssue({ code: "custom", message: `${JSON.stringify(item)} must be key=value with a key of letters, digits, '.', '_', '/' or '-'` });
        continue;
      }
      out[key] = item.slice(eq + 1).trim();
    }
    return out;
  });

/** The pass-through patterns, added to (never replacing) the defaults TEI always needs. */
const passEnv = z
  .array(z.string())
  .default([])
  .transform((patterns, ctx) => {
    const out = [...DEFAULT_PASS_ENV];
    for (const p of patterns) {
      const problem = passEnvPatternError(p);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
      else if (!out.includes(p)) out.push(p);
    }
    return out;
  });

/** Parses `A-B` (inclusive TCP port range), or says what is wrong with it. */
function portRange(value: string): { start: number; end: number } | string {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(value.trim());
  const start = Number(m?.[1]);
  const end = Number(m?.[2]);
  if (!m || start < 1 || end > 65535 || start > end) return `${JSON.stringify(value)} must be START-END with 1 <= START <= END <= 65535`;
  if (end - start + 1 < 2) return `${value} must hold at least 2 ports (TEI needs a gRPC and a Prometheus port)`;
  return { start, end };
}

/** A whole-number setting with a default, bounded to `[min, max]`; most are durations (`ms`). */
const whole = (flag: `--${string}`, env: `TEI_FLEET_${string}`, fallback: string, [min, max]: [number, number], doc: string, placeholder = "ms") =>
  ({ flag, env, placeholder, default: fallback, schema: integer(min, max), doc }) satisfies ConfigOption;

/** Every setting of the agent: its flag, environment twin, parser, default and help line. */
export const AGENT_OPTIONS = {
  controlPlane: {
    flag: "--control-plane",
    placeholder: "url",
    env: "TEI_FLEET_CONTROL_PLANE",
    required: true,
    schema: httpUrl("http://10.0.0.1:9000"),
    doc: "control plane base URL",
  },
  nodeName: {
    flag: "--node-name",
    placeholder: "name",
    env: "TEI_FLEET_NODE_NAME",
    required: true,
    // The control plane registers and pins nodes by the same rule (@tei-fleet/core): a name it would
    // refuse stops the agent here, with this message, instead of failing every registration.
    schema: z.string().refine(isNodeName, `must be ${NODE_NAME_RULE} (case-sensitive)`),
    doc: "this node's name",
  },
  advertiseAddress: {
    flag: "--advertise-address",
    placeholder: "ip",
    env: "TEI_FLEET_ADVERTISE_ADDRESS",
    required: true,
    schema: z.string().refine((v) => isIP(v) !== 0, "must be an IP address (TEI's --hostname accepts only IPs)"),
    doc: "IP TEI binds and peers reach this node at",
  },
  teiBinary: {
    flag: "--tei-binary",
    placeholder: "path",
    env: "TEI_FLEET_TEI_BINARY",
    required: true,
    schema: z.string().min(1, "is required"),
    doc: "text-embeddings-router (gRPC build)",
  },
  gpus: {
    flag: "--gpus",
    placeholder: "COUNTxMIB",
    env: "TEI_FLEET_GPUS",
    defaultDoc: "nvidia-smi; none found = 0 GPUs",
    schema: fromParser(parseDeclaredGpus).optional(),
    doc: "declared GPUs, e.g. 2x81920",
  },
  label: { flag: "--label", placeholder: "k=v", env: "TEI_FLEET_LABELS", repeatable: true, schema: labels, doc: "node label" },
  listen: {
    flag: "--listen",
    placeholder: "host:port",
    env: "TEI_FLEET_AGENT_LISTEN",
    defaultDoc: `<advertise-address>:${DEFAULT_AGENT_PORT}`,
    schema: hostPort(`0.0.0.0:${DEFAULT_AGENT_PORT}`).optional(),
    doc: "agent HTTP API (logs, metrics, healthz, readyz)",
  },
  stateDir: {
    flag: "--state-dir",
    placeholder: "dir",
    env: "TEI_FLEET_STATE_DIR",
    defaultDoc: "/var/lib/tei-fleet/agent/<node> (root), else $TMPDIR/tei-fleet-agent/<node>",
    schema: z.string().min(1).optional(),
    doc: "desired state, process records, TEI logs",
  },
  portRange: {
    flag: "--port-range",
    placeholder: "A-B",
    env: "TEI_FLEET_PORT_RANGE",
    default: "20000-20999",
    schema: fromParser(portRange),
    doc: "ports the control plane may give TEI instances",
  },
  passEnv: {
    flag: "--pass-env",
    placeholder: "NAME|PREFIX*",
    env: "TEI_FLEET_PASS_ENV",
    repeatable: true,
    schema: passEnv,
    doc: `environment passed to TEI besides ${DEFAULT_PASS_ENV.join(", ")}`,
  },
  stopInstancesOnExit: {
    flag: "--stop-instances-on-exit",
    placeholder: "bool",
    env: "TEI_FLEET_STOP_INSTANCES_ON_EXIT",
    default: "true",
    schema: booleanText(),
    doc: "stop TEI processes on SIGTERM",
  },
  capacity: whole("--capacity", "TEI_FLEET_CAPACITY", "64", [1, 10_000], "most TEI processes this node runs", "n"),
  heartbeatIntervalMs: {
    flag: "--heartbeat-interval-ms",
    placeholder: "ms",
    env: "TEI_FLEET_HEARTBEAT_INTERVAL_MS",
    defaultDoc: "the control plane's (Register), else 5000",
    schema: integer(100, 600_000).optional(),
    doc: "override the control plane's heartbeat interval",
  },
  probeIntervalMs: whole("--probe-interval-ms", "TEI_FLEET_PROBE_INTERVAL_MS", "5000", [50, 3_600_000], "liveness probe period"),
  probeTimeoutMs: whole("--probe-timeout-ms", "TEI_FLEET_PROBE_TIMEOUT_MS", "5000", [10, 600_000], "liveness probe deadline"),
  probeFailureThreshold: whole(
    "--probe-failure-threshold",
    "TEI_FLEET_PROBE_FAILURE_THRESHOLD",
    "3",
    [1, 1000],
    "failed probes before unhealthy + restart",
    "n",
  ),
  startupTimeoutSecs: whole(
    "--startup-timeout-secs",
    "TEI_FLEET_STARTUP_TIMEOUT_SECS",
    "600",
    [1, 86_400],
    "start-up timeout when the instance sets none",
    "s",
  ),
  stopGraceMs: whole("--stop-grace-ms", "TEI_FLEET_STOP_GRACE_MS", "10000", [0, 3_600_000], "SIGTERM to SIGKILL grace"),
  unhealthyDrainMs: whole(
    "--unhealthy-drain-ms",
    "TEI_FLEET_UNHEALTHY_DRAIN_MS",
    "2000",
    [0, 600_000],
    "time an unhealthy replica is reported before its restart",
  ),
  restartBackoffInitialMs: whole("--restart-backoff-initial-ms", "TEI_FLEET_RESTART_BACKOFF_INITIAL_MS", "1000", [0, 3_600_000], "first restart delay"),
  restartBackoffMaxMs: whole(
    "--restart-backoff-max-ms",
    "TEI_FLEET_RESTART_BACKOFF_MAX_MS",
    "300000",
    [0, 86_400_000],
    "restart delay cap and crash_loop retry period",
  ),
  crashLoopFailures: whole("--crash-loop-failures", "TEI_FLEET_CRASH_LOOP_FAILURES", "5", [1, 1000], "failures within the window that mean crash_loop", "n"),
  crashLoopWindowMs: whole("--crash-loop-window-ms", "TEI_FLEET_CRASH_LOOP_WINDOW_MS", "600000", [1, 86_400_000], "crash_loop window"),
  shutdownDrainMs: whole(
    "--shutdown-drain-ms",
    "TEI_FLEET_SHUTDOWN_DRAIN_MS",
    "2000",
    [0, 600_000],
    "on SIGTERM, time between reporting replicas stopping and stopping them",
  ),
  logLevel: { flag: "--log-level", placeholder: "level", env: "TEI_FLEET_LOG_LEVEL", default: "info", schema: logLevel(), doc: "agent log level" },
  joinToken: {
    // Never a flag: flags show up in `ps`.
    env: "TEI_FLEET_JOIN_TOKEN",
    schema: z.string().optional(),
    doc: "the join token (AgentService, and the agent's own /instances API)",
  },
} satisfies OptionTable;

/** Raw option values as the command line collects them (text, before validation), by setting name. */
export type RawAgentOptions = FlagValues<typeof AGENT_OPTIONS>;

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
  timing: Required<
    Pick<SupervisorTiming, "probeIntervalMs" | "probeTimeoutMs" | "probeFailureThreshold" | "defaultStartupTimeoutMs" | "stopGraceMs" | "unhealthyDrainMs">
  >;
  restartPolicy: RestartPolicy;
  logLevel: LogLevel;
}

/** Reads flags, then the environment, then defaults; throws {@link ConfigError} naming every bad setting. */
export function resolveConfig(raw: RawAgentOptions, env: Environment): AgentConfig {
  const c = resolveOptions(AGENT_OPTIONS, raw, env);
  return {
    controlPlaneUrl: c.controlPlane,
    joinToken: c.joinToken,
    nodeName: c.nodeName,
    advertiseAddress: c.advertiseAddress,
    teiBinary: c.teiBinary,
    gpus: c.gpus,
    labels: c.label,
    listen: c.listen ?? { host: c.advertiseAddress, port: DEFAULT_AGENT_PORT },
    stateDir: c.stateDir ?? defaultStateDir(c.nodeName),
    portRange: c.portRange,
    passEnv: c.passEnv,
    stopInstancesOnExit: c.stopInstancesOnExit,
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

/** /var/lib/tei-fleet/agent/<node> for root, else a per-node directory under the temp dir. */
export function defaultStateDir(nodeName: string): string {
  return process.getuid?.() === 0 ? join("/var/lib/tei-fleet/agent", nodeName) : join(tmpdir(), "tei-fleet-agent", nodeName);
}
