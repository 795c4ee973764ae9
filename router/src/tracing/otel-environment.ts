/**
 * The router's tracing settings as OpenTelemetry's own environment variables give them (the SDK
 * configuration spec), for a router started without its own `--otlp-endpoint`: the same
 * variables every OpenTelemetry SDK reads, so a router dropped into an instrumented deployment
 * exports where everything else does. Text only: RouterConfigSchema validates what comes out.
 *
 * - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the traces URL, used as it is (the spec's rule for a
 *   signal's own endpoint);
 * - else `OTEL_EXPORTER_OTLP_ENDPOINT`: a base URL, `v1/traces` appended to its path;
 * - neither when `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`;
 * - `OTEL_SERVICE_NAME`; `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` (read when the
 *   tracer starts: trace-sampler.ts).
 */
import type { Environment } from "@tei-fleet/core/service";

/** The service name of the router's spans when neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES names one. */
export const DEFAULT_SERVICE_NAME = "tei-router";

/** The OTLP/HTTP path of traces under a base URL (OTLP spec). */
const TRACES_PATH = "v1/traces";

/**
 * The traces URL under an OTLP/HTTP base URL: `v1/traces` appended to its path (after a `/`),
 * as the spec has it for `OTEL_EXPORTER_OTLP_ENDPOINT`. Text that is no URL is returned as it
 * is, for the configuration schema to refuse with its own message.
 */
export function tracesUrlUnder(base: string): string {
  let url: URL;
  try {
    url = new URL(base.trim());
  } catch {
    return base;
  }
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/${TRACES_PATH}`;
  return url.href;
}

/**
 * The router's own `--otlp-endpoint` (`TEI_FLEET_ROUTER_OTLP_ENDPOINT`): a base URL like
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (`http://collector:4318`), or the traces URL itself when it
 * already ends in `/v1/traces`, so either spelling works.
 */
export function tracesUrlOfFlag(text: string): string {
  const t = text.trim();
  return /\/v1\/traces\/?$/.test(t) ? t : tracesUrlUnder(t);
}

/** A setting found in the environment, and the variable it came from (named in a config error). */
export interface EnvSetting {
  readonly value: string;
  readonly variable: string;
}

/** A variable's value, trimmed; undefined when unset or blank (what `KEY=` in an env file means). */
function read(env: Environment, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

/** The traces URL the standard variables give, or undefined (none set, or tracing switched off there). */
export function otlpEndpointFromEnv(env: Environment): EnvSetting | undefined {
  if (read(env, "OTEL_SDK_DISABLED")?.toLowerCase() === "true") return undefined;
  if (read(env, "OTEL_TRACES_EXPORTER")?.toLowerCase() === "none") return undefined;
  const traces = read(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  if (traces !== undefined) return { value: traces, variable: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" };
  const base = read(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
  if (base !== undefined) return { value: tracesUrlUnder(base), variable: "OTEL_EXPORTER_OTLP_ENDPOINT" };
  return undefined;
}

/** The RouterConfig fields OpenTelemetry's variables may set. */
export type OtelField = "otlpEndpoint" | "otelServiceName" | "otelTracesSampler" | "otelTracesSamplerArg";

/** What the variables set, by config field (absent: not set there). */
export type OtelSettings = Partial<Record<OtelField, EnvSetting>>;

/** The settings RouterConfig takes from OpenTelemetry's variables, with the variable each came from. */
export function otelSettingsFromEnv(env: Environment): OtelSettings {
  const out: OtelSettings = {};
  const endpoint = otlpEndpointFromEnv(env);
  if (endpoint !== undefined) out.otlpEndpoint = endpoint;
  for (const [field, variable] of [
    ["otelServiceName", "OTEL_SERVICE_NAME"],
    ["otelTracesSampler", "OTEL_TRACES_SAMPLER"],
    ["otelTracesSamplerArg", "OTEL_TRACES_SAMPLER_ARG"],
  ] as const) {
    const value = read(env, variable);
    if (value !== undefined) out[field] = { value, variable };
  }
  return out;
}
