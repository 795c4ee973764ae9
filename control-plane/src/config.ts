import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";

/** Command-line flags of tei-control-plane (commander's parsed options). */
export interface CliFlags {
  listen?: string;
  redis?: string;
  prefix?: string;
  dataDir?: string;
  maxInstances?: string;
  logLevel?: string;
}

const listenAddress = z.string().default("0.0.0.0:9000").transform((value, ctx) => {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]+)|([0-9a-fA-F:]+)):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[4]) : NaN;
  if (!match || !(port >= 0 && port <= 65535)) {
    ctx.addIssue({ code: "custom", message: `must be HOST:PORT, e.g. 0.0.0.0:9000 (got '${value}')` });
    return z.NEVER;
  }
  return { host: match[1] ?? match[2] ?? match[3] ?? "0.0.0.0", port };
});

const optionalToken = z.string().min(16, "must be at least 16 characters").optional();

/**
 * The control plane's configuration: flags win over environment variables, which win over
 * defaults. Validated as a whole, so a bad value is reported with its name before anything starts.
 */
export const ConfigSchema = z.object({
  listen: listenAddress,
  redisUrl: z.string().regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL").default("redis://127.0.0.1:6379"),
  prefix: z.string().regex(/^[A-Za-z0-9_.{}-]{1,64}$/, "must be 1-64 letters, digits or _.{}-").default("tf"),
  dataDir: z.string().min(1).default(join(homedir(), ".tei-fleet", "control-plane")),
  adminToken: optionalToken,
  readToken: optionalToken,
  joinToken: optionalToken,
  maxInstances: z.coerce.number().int().min(1).max(100_000).default(1000),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
  /** Scheduler timings (env only; for tests and tuning). Unset: the scheduler's defaults. */
  scheduler: z.object({
    heartbeatIntervalMs: z.coerce.number().int().min(50).max(600_000).optional(),
    heartbeatTtlMs: z.coerce.number().int().min(100).max(3_600_000).optional(),
    reconcileIntervalMs: z.coerce.number().int().min(100).max(3_600_000).optional(),
    livenessIntervalMs: z.coerce.number().int().min(50).max(600_000).optional(),
    routeGraceMs: z.coerce.number().int().min(0).max(600_000).optional(),
    /** 0 keeps lost nodes forever; at most a year. */
    lostNodeRetentionMs: z.coerce.number().int().min(0).max(366 * 86_400_000).optional(),
    ejectionQuorum: z.coerce.number().int().min(1).max(1000).optional(),
    ejectionReportWindowMs: z.coerce.number().int().min(1000).max(3_600_000).optional(),
    /** 0 disables rescheduling of failed replicas; at most a day. */
    rescheduleAfterMs: z.coerce.number().int().min(0).max(86_400_000).optional(),
    rescheduleAttempts: z.coerce.number().int().min(1).max(100).optional(),
    rescheduleIntervalMs: z.coerce.number().int().min(1000).max(7 * 86_400_000).optional(),
  }),
});

/** The validated configuration. */
export type Config = z.output<typeof ConfigSchema>;

/**
 * Builds the configuration from flags and environment: TEI_FLEET_LISTEN, TEI_FLEET_REDIS_URL,
 * TEI_FLEET_PREFIX, TEI_FLEET_DATA_DIR, TEI_FLEET_ADMIN_TOKEN, TEI_FLEET_READ_TOKEN,
 * TEI_FLEET_JOIN_TOKEN, TEI_FLEET_MAX_INSTANCES, TEI_FLEET_LOG_LEVEL, and the scheduler timings
 * TEI_FLEET_HEARTBEAT_INTERVAL_MS, TEI_FLEET_HEARTBEAT_TTL_MS, TEI_FLEET_RECONCILE_INTERVAL_MS,
 * TEI_FLEET_LIVENESS_INTERVAL_MS, TEI_FLEET_ROUTE_GRACE_MS, TEI_FLEET_LOST_NODE_RETENTION_MS, and the
 * failure-report policy TEI_FLEET_EJECTION_QUORUM, TEI_FLEET_EJECTION_REPORT_WINDOW_MS, and the
 * reschedule policy TEI_FLEET_RESCHEDULE_AFTER_MS, TEI_FLEET_RESCHEDULE_ATTEMPTS,
 * TEI_FLEET_RESCHEDULE_INTERVAL_MS. Throws an Error listing every invalid setting.
 */
export function loadConfig(flags: CliFlags, env: NodeJS.ProcessEnv = process.env): Config {
  const blank = (v: string | undefined) => (v === undefined || v === "" ? undefined : v);
  const parsed = ConfigSchema.safeParse({
    listen: flags.listen ?? blank(env.TEI_FLEET_LISTEN),
    redisUrl: flags.redis ?? blank(env.TEI_FLEET_REDIS_URL),
    prefix: flags.prefix ?? blank(env.TEI_FLEET_PREFIX),
    dataDir: flags.dataDir ?? blank(env.TEI_FLEET_DATA_DIR),
    adminToken: blank(env.TEI_FLEET_ADMIN_TOKEN),
    readToken: blank(env.TEI_FLEET_READ_TOKEN),
    joinToken: blank(env.TEI_FLEET_JOIN_TOKEN),
    maxInstances: flags.maxInstances ?? blank(env.TEI_FLEET_MAX_INSTANCES),
    logLevel: flags.logLevel ?? blank(env.TEI_FLEET_LOG_LEVEL),
    scheduler: {
      heartbeatIntervalMs: blank(env.TEI_FLEET_HEARTBEAT_INTERVAL_MS),
      heartbeatTtlMs: blank(env.TEI_FLEET_HEARTBEAT_TTL_MS),
      reconcileIntervalMs: blank(env.TEI_FLEET_RECONCILE_INTERVAL_MS),
      livenessIntervalMs: blank(env.TEI_FLEET_LIVENESS_INTERVAL_MS),
      routeGraceMs: blank(env.TEI_FLEET_ROUTE_GRACE_MS),
      lostNodeRetentionMs: blank(env.TEI_FLEET_LOST_NODE_RETENTION_MS),
      ejectionQuorum: blank(env.TEI_FLEET_EJECTION_QUORUM),
      ejectionReportWindowMs: blank(env.TEI_FLEET_EJECTION_REPORT_WINDOW_MS),
      rescheduleAfterMs: blank(env.TEI_FLEET_RESCHEDULE_AFTER_MS),
      rescheduleAttempts: blank(env.TEI_FLEET_RESCHEDULE_ATTEMPTS),
      rescheduleIntervalMs: blank(env.TEI_FLEET_RESCHEDULE_INTERVAL_MS),
    },
  });
  if (!parsed.success) {
    const names: Record<string, string> = {
      listen: "--listen / TEI_FLEET_LISTEN", redisUrl: "--redis / TEI_FLEET_REDIS_URL", prefix: "--prefix / TEI_FLEET_PREFIX",
      dataDir: "--data-dir / TEI_FLEET_DATA_DIR", adminToken: "TEI_FLEET_ADMIN_TOKEN", readToken: "TEI_FLEET_READ_TOKEN",
      joinToken: "TEI_FLEET_JOIN_TOKEN", maxInstances: "--max-instances / TEI_FLEET_MAX_INSTANCES", logLevel: "--log-level / TEI_FLEET_LOG_LEVEL",
    };
    const envName = (camel: string) => `TEI_FLEET_${camel.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
    const lines = parsed.error.issues.map((i) => {
      const name = i.path[0] === "scheduler" ? envName(String(i.path[1])) : names[String(i.path[0])] ?? i.path.join(".");
      return `  ${name}: ${i.message}`;
    });
    throw new Error(`invalid configuration:\n${lines.join("\n")}`);
  }
  return parsed.data;
}
