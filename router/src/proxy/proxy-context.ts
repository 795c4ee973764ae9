/**
 * What every proxied call needs from the router process: what its backend attempt needs (route
 * table, backend connections, outlier detection), plus metrics, the logger, the message size
 * limit, the admission chain and the tracer.
 */
import type { Logger } from "pino";
import type { AdmissionStep } from "../admission/admission.ts";
import type { RouterMetrics } from "../metrics/router-metrics.ts";
import type { RequestTracer } from "../tracing/request-tracer.ts";
import type { AttemptContext } from "./attempt-contract.ts";

/** Shared, long-lived parts of the router, passed to each call. */
export interface ProxyContext extends AttemptContext {
  readonly metrics: RouterMetrics;
  readonly log: Logger;
  /** Largest request message accepted, in bytes (gRPC's and TEI's default is 4 MiB). */
  readonly maxMessageBytes: number;
  /** The steps every call passes before it is forwarded, in order. */
  readonly admission: readonly AdmissionStep[];
  /**
   * Traces each proxied call when an OTLP endpoint is configured (set once tracing started);
   * null: no span, and the caller's trace context reaches TEI as it came.
   */
  tracer: RequestTracer | null;
}
