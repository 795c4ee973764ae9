/**
 * Turns tracing on for a router that has an OTLP endpoint: loads the OpenTelemetry SDK (a
 * dynamic import, like the gateway's apache-arrow and js-tiktoken, so a router without an
 * endpoint never loads it) and starts it. Tracing must never stop a router: an SDK that cannot
 * load or start is logged and the router serves untraced.
 */
import type { Logger } from "pino";
import type { Tracing } from "./request-tracer.ts";
import { samplerChoice } from "./trace-sampler.ts";

/** The tracing part of a RouterConfig. */
export interface TracingSettings {
  /** The OTLP/HTTP traces URL (RouterConfig.otlpEndpoint). */
  readonly endpoint: string;
  /** `service.name` (OTEL_SERVICE_NAME); undefined: OTEL_RESOURCE_ATTRIBUTES' one, else `tei-router`. */
  readonly serviceName: string | undefined;
  /** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG as given (trace-sampler.ts). */
  readonly sampler: string | undefined;
  readonly samplerArg: string | undefined;
  /** `service.instance.id`: this router process. */
  readonly instanceId: string;
}

/** A URL as it may be logged: scheme, host, port and path; never credentials or a query. */
export function loggableUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return "(not a URL)";
  }
}

/** Starts tracing; null when the SDK could not start (logged). */
export async function startTracing(s: TracingSettings, log: Logger): Promise<Tracing | null> {
  const { choice, problem } = samplerChoice(s.sampler, s.samplerArg);
  if (problem !== null) log.warn(`tracing: ${problem}`);
  const endpoint = loggableUrl(s.endpoint);
  try {
    const { startOtlpTracing } = await import("./otlp-tracing.ts");
    const tracing = startOtlpTracing({ url: s.endpoint, loggableUrl: endpoint, serviceName: s.serviceName, instanceId: s.instanceId, sampler: choice }, log);
    log.info(
      { endpoint, sampler: choice.name, ...(choice.root === "ratio" ? { ratio: choice.ratio } : {}) },
      "tracing: gRPC calls and HTTP gateway requests are exported as OpenTelemetry spans (OTLP/HTTP, JSON)",
    );
    return tracing;
  } catch (err) {
    log.error({ endpoint, err: (err as Error).message }, "tracing could not start: requests are served untraced");
    return null;
  }
}
