/**
 * `tei-router`'s command line, from the service kit's option table (`@tei-fleet/core/service`):
 * every flag has a `TEI_FLEET_*` environment twin (listed in `--help`), a flag wins over its
 * twin, and a bad setting exits 2 with a message naming both. The table only reads text; each
 * setting's rule, bound and default is RouterConfigSchema's (config.ts), so the command line,
 * tests and embedders cannot disagree about them.
 *
 * Names: settings only the router has are `TEI_FLEET_ROUTER_*`; the ones every service shares
 * keep the names the control plane and the agent use (`TEI_FLEET_CONTROL_PLANE`,
 * `TEI_FLEET_JOIN_TOKEN`, `TEI_FLEET_LOG_LEVEL`). Tracing also honours OpenTelemetry's own
 * variables (tracing/otel-environment.ts) where the router's settings leave it unset.
 */

import { previousSecretsKeysOption, type SecretsKey, secretsKeyOption, secretsKeyring } from "@tei-fleet/core/secrets";
import {
  booleanText,
  type CommandSpec,
  ConfigError,
  type ConfigOption,
  type ConfigProblem,
  type Environment,
  type FlagValues,
  type OptionTable,
  parseFlags,
  resolveOptions,
  settingName,
} from "@tei-fleet/core/service";
import { z } from "zod";
import { type RouterConfig, type RouterConfigInput, RouterConfigSchema } from "./config.ts";
import { otelSettingsFromEnv, tracesUrlOfFlag } from "./tracing/otel-environment.ts";

type Field = keyof RouterConfigInput;

/** `--help`'s default of a field: what RouterConfigSchema fills in when it is absent. */
function defaultOf(field: Field): string | undefined {
  const value = (RouterConfigSchema.shape[field] as z.ZodType).safeParse(undefined);
  return value.success && value.data !== undefined ? String(value.data) : undefined;
}

const text = (field: Field, flag: `--${string}`, env: `TEI_FLEET_${string}`, placeholder: string, doc: string) =>
  ({ flag, env, placeholder, doc, defaultDoc: defaultOf(field), schema: z.string().optional() }) satisfies ConfigOption;

/**
 * Decimal digits become a number; anything else stays text, for RouterConfigSchema to refuse
 * ("must be a whole number") along with every other problem, so one run names them all.
 */
const wholeText = z
  .string()
  .optional()
  .transform((t) => (t !== undefined && /^[+-]?\d+$/.test(t.trim()) ? Number(t) : t));

/** A whole-number setting; its bounds and its message are the schema's. */
const whole = (field: Field, flag: `--${string}` | undefined, env: `TEI_FLEET_${string}`, placeholder: string, doc: string) =>
  ({ ...(flag ? { flag } : {}), env, placeholder, doc, defaultDoc: defaultOf(field), schema: wholeText }) satisfies ConfigOption;

/**
 * Every setting of the router, keyed by its RouterConfig field: its flag (absent: environment
 * only), environment twin and help line. A field added to RouterConfigSchema gets its flag here.
 */
export const ROUTER_OPTIONS = {
  listen: text("listen", "--listen", "TEI_FLEET_ROUTER_LISTEN", "host:port", "gRPC (h2c) listen address"),
  controlPlane: text("controlPlane", "--control-plane", "TEI_FLEET_CONTROL_PLANE", "url", "control plane URL to watch the route table from"),
  routesFile: text(
    "routesFile",
    "--routes-file",
    "TEI_FLEET_ROUTER_ROUTES_FILE",
    "file",
    "static route table JSON instead of a control plane (SIGHUP re-reads it)",
  ),
  metricsListen: text(
    "metricsListen",
    "--metrics-listen",
    "TEI_FLEET_ROUTER_METRICS_LISTEN",
    "host:port",
    "HTTP/1.1 address of /metrics, /healthz and /readyz",
  ),
  httpListen: text(
    "httpListen",
    "--http-listen",
    "TEI_FLEET_ROUTER_HTTP_LISTEN",
    "host:port",
    "HTTP gateway address (TEI's HTTP API, OpenAI embeddings); unset: no gateway",
  ),
  httpMaxBodyBytes: whole(
    "httpMaxBodyBytes",
    "--http-max-body-bytes",
    "TEI_FLEET_ROUTER_HTTP_MAX_BODY_BYTES",
    "n",
    "largest HTTP gateway request body (larger: 413)",
  ),
  maxMessageBytes: whole("maxMessageBytes", "--max-message-bytes", "TEI_FLEET_ROUTER_MAX_MESSAGE_BYTES", "n", "largest request message accepted"),
  ejectAfterFailures: whole("ejectAfterFailures", "--eject-after", "TEI_FLEET_ROUTER_EJECT_AFTER", "n", "consecutive failures that eject a backend"),
  ejectionMs: whole("ejectionMs", "--ejection-ms", "TEI_FLEET_ROUTER_EJECTION_MS", "ms", "first ejection time (doubles on repeats, up to 10x)"),
  connectTimeoutMs: whole("connectTimeoutMs", "--connect-timeout-ms", "TEI_FLEET_ROUTER_CONNECT_TIMEOUT_MS", "ms", "time allowed to open a backend connection"),
  backendKeepaliveMs: whole(
    "backendKeepaliveMs",
    "--backend-keepalive-ms",
    "TEI_FLEET_ROUTER_BACKEND_KEEPALIVE_MS",
    "ms",
    "PING a silent backend connection with open calls after this long; close it after twice (0: off)",
  ),
  maxConcurrentStreams: whole(
    "maxConcurrentStreams",
    "--max-concurrent-streams",
    "TEI_FLEET_ROUTER_MAX_CONCURRENT_STREAMS",
    "n",
    "concurrent calls per client connection",
  ),
  logLevel: text("logLevel", "--log-level", "TEI_FLEET_LOG_LEVEL", "level", "fatal|error|warn|info|debug|trace|silent"),
  // A base URL like OTEL_EXPORTER_OTLP_ENDPOINT (`/v1/traces` appended), or the traces URL itself.
  otlpEndpoint: {
    flag: "--otlp-endpoint",
    env: "TEI_FLEET_ROUTER_OTLP_ENDPOINT",
    placeholder: "url",
    doc: "OTLP/HTTP collector (e.g. http://otel-collector:4318): HTTP gateway requests traced as OpenTelemetry spans; unset: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT, else no tracing",
    schema: z
      .string()
      .optional()
      .transform((t) => (t === undefined ? t : tracesUrlOfFlag(t))),
  },
  // ---- admission (router/src/admission/) ----
  requireApiKeys: {
    flag: "--require-api-keys",
    env: "TEI_FLEET_ROUTER_REQUIRE_API_KEYS",
    placeholder: "true|false",
    doc: "calls must present a known API key (authorization: Bearer <key>); false: anyone is served, as TEI does",
    defaultDoc: "false",
    schema: booleanText().optional(),
  },
  apiKeysFile: text(
    "apiKeysFile",
    "--api-keys-file",
    "TEI_FLEET_ROUTER_API_KEYS_FILE",
    "file",
    "static API keys JSON (SHA-256 hashes, models, limits) instead of the control plane's (SIGHUP re-reads it)",
  ),
  maxInflightGlobal: whole(
    "maxInflightGlobal",
    "--max-inflight",
    "TEI_FLEET_ROUTER_MAX_INFLIGHT",
    "n",
    "unary calls with TEI at once; more wait in their model's queue (0: no limit)",
  ),
  maxQueuePerModel: whole(
    "maxQueuePerModel",
    "--max-queue-per-model",
    "TEI_FLEET_ROUTER_MAX_QUEUE_PER_MODEL",
    "n",
    "calls that may wait per model (full: refused at once)",
  ),
  requestTimeoutMs: whole(
    "requestTimeoutMs",
    "--request-timeout-ms",
    "TEI_FLEET_ROUTER_REQUEST_TIMEOUT_MS",
    "ms",
    "deadline of a queued call unless its grpc-timeout is shorter",
  ),
  routerCount: whole(
    "routerCount",
    "--router-count",
    "TEI_FLEET_ROUTER_COUNT",
    "n",
    "routers sharing each key's rate limits (each enforces 1/n) until the control plane says",
  ),
  // ---- end of admission ----
  // Never a flag: flags show up in `ps`.
  joinToken: { env: "TEI_FLEET_JOIN_TOKEN", schema: z.string().optional(), doc: "join token for the control plane (sent as a bearer token)" },
  secretsKey: secretsKeyOption("opens remote backends' sealed upstream API keys (the control plane's TEI_FLEET_SECRETS_KEY)"),
  previousSecretsKeys: previousSecretsKeysOption(),
  resyncIntervalMs: whole("resyncIntervalMs", undefined, "TEI_FLEET_ROUTER_RESYNC_INTERVAL_MS", "ms", "period of the full GetRoutes resync, ms (0: off)"),
  watchIdleTimeoutMs: whole("watchIdleTimeoutMs", undefined, "TEI_FLEET_ROUTER_WATCH_IDLE_TIMEOUT_MS", "ms", "a route watch silent this long is reopened, ms"),
  shutdownGraceMs: whole("shutdownGraceMs", undefined, "TEI_FLEET_ROUTER_SHUTDOWN_GRACE_MS", "ms", "time open calls get to finish on SIGTERM, ms"),
} satisfies OptionTable & { [K in Field]?: ConfigOption };

/** The router's command: name, description and settings. */
export const ROUTER_COMMAND: CommandSpec<typeof ROUTER_OPTIONS> = {
  name: "tei-router",
  description: "Routes TEI's gRPC API (tei.v1.* and tei_multiplexer.v1.TeiMultiplexer) across a TEI Fleet.",
  options: ROUTER_OPTIONS,
  epilog: "Give exactly one route source: --control-plane URL or --routes-file FILE. The join token is environment-only (flags show in `ps`).",
};

/**
 * Flags, then their environment twins, into a validated configuration: the table reads the
 * text, RouterConfigSchema applies the rules and defaults, and each problem is named by the
 * flag and variable of its setting.
 *
 * @throws ConfigError naming every bad setting
 */
export function resolveRouterConfig(flags: FlagValues<typeof ROUTER_OPTIONS>, env: Environment): RouterConfig {
  const values: Record<string, unknown> = resolveOptions(ROUTER_OPTIONS, flags, env);
  // The two secrets-key settings make one keyring (RouterConfig.secrets).
  const { secretsKey, previousSecretsKeys } = values as { secretsKey?: SecretsKey[]; previousSecretsKeys?: SecretsKey[] };
  values.secrets = secretsKeyring(secretsKey, previousSecretsKeys);
  // OpenTelemetry's own variables fill what the router's settings leave unset, and name
  // themselves in a problem (OTEL_EXPORTER_OTLP_ENDPOINT: must be an http(s) URL...).
  const fromOtel = new Map<string, string>();
  for (const [field, s] of Object.entries(otelSettingsFromEnv(env))) {
    if (values[field] !== undefined) continue;
    values[field] = s.value;
    fromOtel.set(field, s.variable);
  }
  const parsed = RouterConfigSchema.safeParse(values);
  if (parsed.success) return parsed.data;
  const problems: ConfigProblem[] = parsed.error.issues.map((issue) => {
    const field = String(issue.path[0]);
    const option = (ROUTER_OPTIONS as OptionTable)[field];
    return { setting: fromOtel.get(field) ?? (option ? settingName(option) : String(issue.path.join(".") || "config")), message: issue.message };
  });
  throw new ConfigError(problems);
}

/**
 * Parses argv (as `process.argv`) and the environment into a validated configuration.
 *
 * @throws CommanderError for `--help` or an unknown flag, ConfigError for a bad setting
 */
export function parseRouterArgs(argv: readonly string[], env: Environment): RouterConfig {
  return resolveRouterConfig(parseFlags(ROUTER_COMMAND, argv), env);
}
