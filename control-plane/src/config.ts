import { homedir } from "node:os";
import { join } from "node:path";
import { previousSecretsKeysOption, type SecretsKeyring, secretsKeyOption, secretsKeyring } from "@tei-fleet/core/secrets";
import { type ConfigOption, type Environment, type FlagValues, hostPort, integer, logLevel, type OptionTable, resolveOptions } from "@tei-fleet/core/service";
import { z } from "zod";
import { DEFAULT_TIMINGS, type SchedulerTimings } from "./store/scheduler-context.ts";

/**
 * The control plane's configuration, from one option table (`@tei-fleet/core/service`): flags
 * win over their TEI_FLEET_* environment twins, which win over defaults. Tokens and the
 * scheduler's timings are environment-only (tokens because flags show in `ps`; timings because
 * they are for tests and tuning). Everything is validated before anything starts, and every bad
 * setting is named.
 */

const token = (env: `TEI_FLEET_${string}`, doc: string) =>
  ({ env, doc, schema: z.string().min(16, "must be at least 16 characters").optional() }) satisfies ConfigOption;

/** One scheduler timing: environment-only, bounded, unset = the scheduler's default. */
const timing = (key: keyof SchedulerTimings, env: `TEI_FLEET_${string}`, min: number, max: number, doc: string) =>
  ({ env, doc, schema: integer(min, max).optional(), defaultDoc: String(DEFAULT_TIMINGS[key]) }) satisfies ConfigOption;

/** The scheduler's settings; unset ones keep the scheduler's defaults. */
const SCHEDULER_OPTIONS = {
  heartbeatIntervalMs: timing("heartbeatIntervalMs", "TEI_FLEET_HEARTBEAT_INTERVAL_MS", 50, 600_000, "how often agents heartbeat, ms"),
  heartbeatTtlMs: timing("heartbeatTtlMs", "TEI_FLEET_HEARTBEAT_TTL_MS", 100, 3_600_000, "a node silent this long is lost, ms"),
  reconcileIntervalMs: timing("reconcileIntervalMs", "TEI_FLEET_RECONCILE_INTERVAL_MS", 100, 3_600_000, "full desired/observed comparison period, ms"),
  livenessIntervalMs: timing("livenessIntervalMs", "TEI_FLEET_LIVENESS_INTERVAL_MS", 50, 600_000, "lost-node and drain check period, ms"),
  routeGraceMs: timing("routeGraceMs", "TEI_FLEET_ROUTE_GRACE_MS", 0, 600_000, "a replaced replica stays up this long after its route is removed, ms"),
  lostNodeRetentionMs: timing("lostNodeRetentionMs", "TEI_FLEET_LOST_NODE_RETENTION_MS", 0, 366 * 86_400_000, "a node lost longer is forgotten, ms (0: never)"),
  ejectionQuorum: timing("ejectionQuorum", "TEI_FLEET_EJECTION_QUORUM", 1, 1000, "routers that must report a replica failing before it leaves every table"),
  ejectionReportWindowMs: timing("ejectionReportWindowMs", "TEI_FLEET_EJECTION_REPORT_WINDOW_MS", 1000, 3_600_000, "how long a router's report counts, ms"),
  rescheduleAfterMs: timing(
    "rescheduleAfterMs",
    "TEI_FLEET_RESCHEDULE_AFTER_MS",
    0,
    86_400_000,
    "a replica failing this long moves to another node, ms (0: never)",
  ),
  rescheduleAttempts: timing("rescheduleAttempts", "TEI_FLEET_RESCHEDULE_ATTEMPTS", 1, 100, "most reschedules of one replica within the interval"),
  rescheduleIntervalMs: timing("rescheduleIntervalMs", "TEI_FLEET_RESCHEDULE_INTERVAL_MS", 1000, 7 * 86_400_000, "the window reschedules are counted in, ms"),
} satisfies OptionTable;

/** Every setting of the control plane: its flag, environment twin, parser, default and help line. */
export const CONTROL_PLANE_OPTIONS = {
  listen: {
    flag: "--listen",
    placeholder: "host:port",
    env: "TEI_FLEET_LISTEN",
    default: "0.0.0.0:9000",
    schema: hostPort("0.0.0.0:9000"),
    doc: "address of the API (REST over HTTP/1.1 and h2c, Connect, gRPC, gRPC-web)",
  },
  redis: {
    flag: "--redis",
    placeholder: "url",
    env: "TEI_FLEET_REDIS_URL",
    default: "redis://127.0.0.1:6379",
    schema: z.string().regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL"),
    doc: "Redis URL",
  },
  prefix: {
    flag: "--prefix",
    placeholder: "prefix",
    env: "TEI_FLEET_PREFIX",
    default: "tf",
    schema: z.string().regex(/^[A-Za-z0-9_.{}-]{1,64}$/, "must be 1-64 letters, digits or _.{}-"),
    doc: "Redis key prefix",
  },
  dataDir: {
    flag: "--data-dir",
    placeholder: "dir",
    env: "TEI_FLEET_DATA_DIR",
    default: join(homedir(), ".tei-fleet", "control-plane"),
    defaultDoc: "~/.tei-fleet/control-plane",
    schema: z.string().min(1),
    doc: "where a generated admin token is kept",
  },
  maxInstances: {
    flag: "--max-instances",
    placeholder: "n",
    env: "TEI_FLEET_MAX_INSTANCES",
    default: "1000",
    schema: integer(1, 100_000),
    doc: "most instances the fleet holds",
  },
  logLevel: { flag: "--log-level", placeholder: "level", env: "TEI_FLEET_LOG_LEVEL", default: "info", schema: logLevel(), doc: "log level" },
  adminToken: { ...token("TEI_FLEET_ADMIN_TOKEN", "admin token (everything)"), defaultDoc: "generated at first start, see --data-dir" },
  readToken: token("TEI_FLEET_READ_TOKEN", "read token (GET routes and read RPCs only)"),
  joinToken: token("TEI_FLEET_JOIN_TOKEN", "join token (node agents and routers)"),
  secretsKey: secretsKeyOption("seals remote backends' upstream API keys in Redis and on the route watch (32 bytes, base64; the same on every router)"),
  previousSecretsKeys: previousSecretsKeysOption(),
  ...SCHEDULER_OPTIONS,
} satisfies OptionTable;

/** Command-line flags of tei-control-plane (their raw text, by setting name). */
export type CliFlags = FlagValues<typeof CONTROL_PLANE_OPTIONS>;

/** The validated configuration. */
export interface Config {
  listen: { host: string; port: number };
  redisUrl: string;
  prefix: string;
  dataDir: string;
  adminToken: string | undefined;
  readToken: string | undefined;
  joinToken: string | undefined;
  /** TEI_FLEET_SECRETS_KEY and TEI_FLEET_SECRETS_KEY_PREVIOUS; undefined: upstream API keys are stored in plaintext. */
  secrets: SecretsKeyring | undefined;
  maxInstances: number;
  logLevel: string;
  /** Scheduler timings (environment only; for tests and tuning). Unset: the scheduler's defaults. */
  scheduler: Partial<SchedulerTimings>;
}

/**
 * Builds the configuration from flags and environment (the settings and their variables are
 * {@link CONTROL_PLANE_OPTIONS}). Throws a ConfigError listing every invalid setting by its flag
 * and variable.
 */
export function loadConfig(flags: CliFlags, env: Environment = process.env): Config {
  const c = resolveOptions(CONTROL_PLANE_OPTIONS, flags, env);
  const scheduler: Partial<SchedulerTimings> = {};
  for (const key of Object.keys(SCHEDULER_OPTIONS) as Array<keyof typeof SCHEDULER_OPTIONS>) {
    if (c[key] !== undefined) scheduler[key] = c[key];
  }
  return {
    listen: c.listen,
    redisUrl: c.redis,
    prefix: c.prefix,
    dataDir: c.dataDir,
    adminToken: c.adminToken,
    readToken: c.readToken,
    joinToken: c.joinToken,
    secrets: secretsKeyring(c.secretsKey, c.previousSecretsKeys),
    maxInstances: c.maxInstances,
    logLevel: c.logLevel,
    scheduler,
  };
}
