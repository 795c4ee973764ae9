/**
 * The router's configuration, validated with zod. The CLI (main.ts) and tests build the raw
 * object; everything downstream receives the parsed, defaulted RouterConfig.
 */
import { z } from "zod";

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/, "must be HOST:PORT (e.g. 0.0.0.0:9001)");

/** Schema of the router configuration; each field documents its default. */
export const RouterConfigSchema = z
  .object({
    /** gRPC (h2c) listen address. Default 0.0.0.0:9001. */
    listen: hostPort.default("0.0.0.0:9001"),
    /** Prometheus /metrics and /healthz (HTTP/1.1). Default 0.0.0.0:9091. */
    metricsListen: hostPort.default("0.0.0.0:9091"),
    /** Control plane base URL (route table source). Exclusive with routesFile. */
    controlPlane: z.url({ protocol: /^https?$/ }).optional(),
    /** Static route table JSON file. Exclusive with controlPlane. */
    routesFile: z.string().min(1).optional(),
    /** Join token for the control plane (env TEI_FLEET_JOIN_TOKEN). */
    joinToken: z.string().optional(),
    /** Largest request message accepted. Default 4 MiB, like gRPC and TEI. */
    maxMessageBytes: z
      .number()
      .int()
      .min(1024)
      .max(1 << 30)
      .default(4 * 1024 * 1024),
    /** Consecutive failures that eject a replica. Default 5. */
    ejectAfterFailures: z.number().int().min(1).default(5),
    /** First ejection time in ms (doubles on repeats, capped at 10×). Default 30 000. */
    ejectionMs: z.number().int().min(1).default(30_000),
    /** Time allowed to open a backend connection. Default 3000 ms. */
    connectTimeoutMs: z.number().int().min(1).default(3000),
    /**
     * A backend connection with calls open that has been silent this long is sent a PING; one
     * that stays silent for another period is closed, so calls on a dead host (no RST, e.g. a
     * power loss) fail over instead of waiting for their deadlines. 0 disables. Default 5000.
     */
    backendKeepaliveMs: z.number().int().min(0).default(5000),
    /** Max concurrent streams per client connection. Default 1024 (tei-manager's). */
    maxConcurrentStreams: z.number().int().min(1).default(1024),
    /** Period of the GetRoutes safety-net resync in ms; 0 disables. Default 30 000. */
    resyncIntervalMs: z.number().int().min(0).default(30_000),
    /** A route watch silent this long is reopened (the control plane re-sends every 15 s). Default 45 000. */
    watchIdleTimeoutMs: z.number().int().min(100).default(45_000),
    /** Grace period for open calls on shutdown, ms. Default 10 000. */
    shutdownGraceMs: z.number().int().min(0).default(10_000),
    /** pino log level. Default info. */
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
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

/** Splits HOST:PORT (IPv6 hosts in brackets) for net.listen. */
export function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(":");
  let host = hp.slice(0, i);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  return { host: host === "" ? "0.0.0.0" : host, port: Number(hp.slice(i + 1)) };
}
