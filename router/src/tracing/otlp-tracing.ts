/**
 * The OpenTelemetry SDK as the router runs it: a TracerProvider of its own (never the global
 * one: several routers may share a process, in tests and embedders), a BatchSpanProcessor that
 * sends spans in the background (nothing on a request's path waits for the collector), and the
 * OTLP/HTTP exporter (JSON) behind the guard that logs its failures once (guarded-exporter.ts).
 * The exporter reads the rest of OpenTelemetry's exporter variables itself
 * (`OTEL_EXPORTER_OTLP_HEADERS`, `..._TIMEOUT`, `..._COMPRESSION`, certificates); the resource
 * takes `OTEL_RESOURCE_ATTRIBUTES`.
 *
 * Imported only by start-tracing.ts, once, when an endpoint is configured: a router without one
 * never loads the SDK.
 */
import { hostname } from "node:os";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, detectResources, resourceAttributesEnvDetector, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_INSTANCE_ID, ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { Logger } from "pino";
import { GuardedExporter } from "./guarded-exporter.ts";
import { DEFAULT_SERVICE_NAME } from "./otel-environment.ts";
import { OtlpRequestTracer } from "./otlp-spans.ts";
import type { Tracing } from "./request-tracer.ts";
import type { SamplerChoice } from "./trace-sampler.ts";

/** What the SDK is set up with. */
export interface OtlpTracingOptions {
  /** The OTLP/HTTP traces URL. */
  readonly url: string;
  /** The same, as it may be logged (no credentials, no query). */
  readonly loggableUrl: string;
  /** `service.name`; undefined: OTEL_RESOURCE_ATTRIBUTES' one, else `tei-router`. */
  readonly serviceName: string | undefined;
  /** `service.instance.id`: this router process. */
  readonly instanceId: string;
  readonly sampler: SamplerChoice;
}

/** The SDK's sampler for a choice. */
function samplerOf(c: SamplerChoice): Sampler {
  const root = c.root === "always_on" ? new AlwaysOnSampler() : c.root === "always_off" ? new AlwaysOffSampler() : new TraceIdRatioBasedSampler(c.ratio);
  return c.parentBased ? new ParentBasedSampler({ root }) : root;
}

/** Starts the SDK; spans are exported until `shutdown`. */
export function startOtlpTracing(o: OtlpTracingOptions, log: Logger): Tracing {
  const fromEnv = detectResources({ detectors: [resourceAttributesEnvDetector] });
  const serviceName = o.serviceName ?? (fromEnv.attributes[ATTR_SERVICE_NAME] as string | undefined) ?? DEFAULT_SERVICE_NAME;
  const resource = defaultResource()
    .merge(fromEnv)
    .merge(
      resourceFromAttributes({
        [ATTR_SERVICE_NAME]: serviceName,
        [ATTR_SERVICE_INSTANCE_ID]: o.instanceId,
        // host.name and process.pid: incubating names, spelled here (see otlp-spans.ts).
        "host.name": hostname(),
        "process.pid": process.pid,
      }),
    );
  const exporter = new GuardedExporter(new OTLPTraceExporter({ url: o.url }), log, o.loggableUrl);
  const provider = new TracerProvider({
    resource,
    sampler: samplerOf(o.sampler),
    // The SDK's batching defaults: every 5 s or 512 spans, at most 2,048 waiting (more are dropped).
    spanProcessors: [new BatchSpanProcessor({ exporter })],
  });
  let stopped: Promise<void> | null = null;
  return {
    tracer: new OtlpRequestTracer(provider.getTracer("tei-router/gateway"), provider.getTracer("tei-router/grpc")),
    endpoint: o.loggableUrl,
    shutdown(timeoutMs) {
      stopped ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), timeoutMs);
          timer.unref();
        });
        // A failed export was logged by the guard; the stop goes on regardless.
        const flushed = provider.shutdown().then(
          () => false,
          () => false,
        );
        if (await Promise.race([flushed, late])) {
          log.warn({ endpoint: o.loggableUrl, timeoutMs }, "tracing: the spans still buffered at stop were not all exported in time and are dropped");
        }
        clearTimeout(timer);
      })();
      return stopped;
    },
  };
}
