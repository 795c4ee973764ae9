/**
 * The router's configuration, validated with zod: every field's rule, bound and default lives
 * here once. The command line (cli.ts: flags and their TEI_FLEET_* environment twins), tests and
 * embedders build the raw object; everything downstream receives the parsed, defaulted
 * RouterConfig. Messages are predicates ("must be at least 1"): the command line puts the
 * setting's flag and variable in front of them.
 */
import { HOST_PORT_RULE, type HostPort, parseHostPort } from "@tei-fleet/core";
import { SecretsKeyring } from "@tei-fleet/core/secrets";
import { LOG_LEVELS } from "@tei-fleet/core/service";
import { z } from "zod";

/** A listen address as every service writes them (core's one parser), kept as text. */
const hostPort = (example: string) =>
  z
    .string()
    .refine((text) => parseHostPort(text) !== undefined, { error: (issue) => `must be ${HOST_PORT_RULE}, e.g. ${example} (got '${String(issue.input)}')` });

/** A whole number of at least `min`, with the message the command line shows. */
const atLeast = (min: number) => z.number({ error: "must be a whole number" }).int("must be a whole number").min(min, `must be at least ${min}`);

/** Schema of the router configuration; each field documents its default. */
export const RouterConfigSchema = z
  .object({
    /** gRPC (h2c) listen address. Default 0.0.0.0:9001. */
    listen: hostPort("0.0.0.0:9001").default("0.0.0.0:9001"),
    /** HTTP/1.1 `/metrics`, `/healthz` and `/readyz` (the service kit's health server). Default 0.0.0.0:9091. */
    metricsListen: hostPort("0.0.0.0:9091").default("0.0.0.0:9091"),
    /**
     * HTTP gateway listen address (HTTP/1.1 and h2c on one port: TEI's HTTP API, OpenAI's
     * /v1/embeddings, rerank; router/src/gateway/). Default unset: no gateway.
     */
    httpListen: hostPort("0.0.0.0:8080").optional(),
    /** Largest HTTP gateway request body; larger ones are answered 413. Default 16 MiB. */
    httpMaxBodyBytes: atLeast(1024)
      .max(1 << 30, `must be at most ${1 << 30}`)
      .default(16 * 1024 * 1024),
    /** Control plane base URL (route table source). Exclusive with routesFile. */
    controlPlane: z.url({ protocol: /^https?$/, error: "must be an http(s) URL, e.g. http://10.0.0.1:9000" }).optional(),
    /** Static route table JSON file. Exclusive with controlPlane. */
    routesFile: z.string().min(1).optional(),
    /** Join token for the control plane (env TEI_FLEET_JOIN_TOKEN). */
    joinToken: z.string().optional(),
    /**
     * The fleet's secrets keys (env TEI_FLEET_SECRETS_KEY and TEI_FLEET_SECRETS_KEY_PREVIOUS, the
     * control plane's): open remote backends' sealed upstream API keys. Unset: a sealed key cannot
     * be used (calls answered 502).
     */
    secrets: z.custom<SecretsKeyring>((v) => v instanceof SecretsKeyring, "must be a SecretsKeyring").optional(),
    /** Largest request message accepted. Default 4 MiB, like gRPC and TEI. */
    maxMessageBytes: atLeast(1024)
      .max(1 << 30, `must be at most ${1 << 30}`)
      .default(4 * 1024 * 1024),
    /** Consecutive failures that eject a replica. Default 5. */
    ejectAfterFailures: atLeast(1).default(5),
    /** First ejection time in ms (doubles on repeats, capped at 10×). Default 30 000. */
    ejectionMs: atLeast(1).default(30_000),
    /** Time allowed to open a backend connection. Default 3000 ms. */
    connectTimeoutMs: atLeast(1).default(3000),
    /**
     * A backend connection with calls open that has been silent this long is sent a PING; one
     * that stays silent for another period is closed, so calls on a dead host (no RST, e.g. a
     * power loss) fail over instead of waiting for their deadlines. 0 disables. Default 5000.
     */
    backendKeepaliveMs: atLeast(0).default(5000),
    /** Max concurrent streams per client connection. Default 1024 (tei-manager's). */
    maxConcurrentStreams: atLeast(1).default(1024),
    /** Period of the GetRoutes safety-net resync in ms; 0 disables. Default 30 000. */
    resyncIntervalMs: atLeast(0).default(30_000),
    /** A route watch silent this long is reopened (the control plane re-sends every 15 s). Default 45 000. */
    watchIdleTimeoutMs: atLeast(100).default(45_000),
    /** Grace period for open calls on shutdown, ms. Default 10 000. */
    shutdownGraceMs: atLeast(0).default(10_000),
    /**
     * Calls must present a known API key (`authorization: Bearer <key>`): UNAUTHENTICATED without
     * one, PERMISSION_DENIED for a model the key may not call. Default false: anyone is served,
     * as TEI does (router/src/admission/).
     */
    requireApiKeys: z.boolean({ error: "must be true or false" }).default(false),
    /** Static API keys JSON (hashes, models, limits; admission/api-keys-file.ts) instead of the control plane's. */
    apiKeysFile: z.string().min(1).optional(),
    /** Unary calls this router has with TEI at once; more wait in their model's queue. 0: no limit. Default 256. */
    maxInflightGlobal: atLeast(0).default(256),
    /** Calls that may wait per model; a call finding its queue full is refused at once. Default 1000. */
    maxQueuePerModel: atLeast(0).default(1000),
    /** Deadline of a queued call, ms from its arrival, unless its grpc-timeout is shorter. Default 120 000. */
    requestTimeoutMs: atLeast(1).default(120_000),
    /** Routers assumed to share each key's rate limits (each enforces 1/N) until a share source says. Default 1. */
    routerCount: atLeast(1).default(1),
    /**
     * OTLP/HTTP traces URL (e.g. `http://otel-collector:4318/v1/traces`): HTTP gateway requests are
     * traced as OpenTelemetry spans and exported there (router/src/tracing/). The command line
     * takes `--otlp-endpoint` as a base URL, else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
     * OTEL_EXPORTER_OTLP_ENDPOINT (cli.ts). Default unset: no tracing, and no span made.
     */
    otlpEndpoint: z.url({ protocol: /^https?$/, error: "must be an http(s) URL, e.g. http://otel-collector:4318" }).optional(),
    /** `service.name` of the spans (OTEL_SERVICE_NAME). Default: OTEL_RESOURCE_ATTRIBUTES' service.name, else `tei-router`. */
    otelServiceName: z.string().min(1).optional(),
    /**
     * OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG as given (tracing/trace-sampler.ts: the SDK
     * spec's values; an unsupported one falls back to `parentbased_always_on` with a warning).
     */
    otelTracesSampler: z.string().optional(),
    otelTracesSamplerArg: z.string().optional(),
    /** pino log level. Default info. */
    logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` }).default("info"),
  })
  .refine((c) => (c.controlPlane === undefined) !== (c.routesFile === undefined), {
    message: "give exactly one route source: --control-plane URL or --routes-file FILE",
    path: ["controlPlane"],
  });

/** The validated router configuration. */
export type RouterConfig = z.infer<typeof RouterConfigSchema>;

/** Input accepted by parseRouterConfig (defaults filled in). */
export type RouterConfigInput = z.input<typeof RouterConfigSchema>;

/**
 * Validates a raw configuration.
 * @throws Error whose message names the offending field
 */
export function parseRouterConfig(raw: RouterConfigInput): RouterConfig {
  const r = RouterConfigSchema.safeParse(raw);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join(".") || "config"}: ${i.message}`).join("; ");
    throw new Error(`invalid router configuration: ${msg}`);
  }
  return r.data;
}

/**
 * The host and port of a listen address of a parsed RouterConfig (core's parseHostPort: IPv6
 * without brackets, an empty host meaning every IPv4 interface), for net.listen.
 * @throws Error for an address the schema would have refused
 */
export function splitHostPort(hp: string): HostPort {
  const parsed = parseHostPort(hp);
  if (parsed === undefined) throw new Error(`not a listen address: '${hp}' (must be ${HOST_PORT_RULE})`);
  return parsed;
}
