/**
 * The gateway's Prometheus metrics, registered in the router's registry (so `/metrics` on the
 * router's metrics port and on the gateway's port show both): requests by route, model and HTTP
 * status, their latency, and how requests were split into TEI calls. Label children are cached
 * per (route, model, status), so recording a request is a map lookup and a few additions.
 */
import { Counter, Histogram, type Registry } from "prom-client";

/** Latency buckets in seconds, from the sub-millisecond gateway overhead to long batches. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Inputs per request and TEI calls per request. */
const SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048];

interface Children {
  requests: Counter.Internal;
  duration: Histogram.Internal<string>;
}

/** The gateway's metrics. */
export class GatewayMetrics {
  private readonly requests: Counter<"route" | "model" | "status">;
  private readonly duration: Histogram<"route" | "model">;
  private readonly inputs: Histogram<"route">;
  private readonly chunks: Histogram<"route">;
  private readonly cache = new Map<string, Children>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: "tei_gateway_requests_total",
      help: "HTTP requests answered by the gateway, by route, model (as requested) and HTTP status.",
      labelNames: ["route", "model", "status"],
      registers,
    });
    this.duration = new Histogram({
      name: "tei_gateway_request_duration_seconds",
      help: "Time from an HTTP request's arrival to its answer, by route and model.",
      labelNames: ["route", "model"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.inputs = new Histogram({
      name: "tei_gateway_batch_inputs",
      help: "Inputs (texts, documents, id lists) per request.",
      labelNames: ["route"],
      buckets: SIZE_BUCKETS,
      registers,
    });
    this.chunks = new Histogram({
      name: "tei_gateway_batch_chunks",
      help: "Chunks of at most max_client_batch_size inputs a request was split into, spread over the model's replicas.",
      labelNames: ["route"],
      buckets: SIZE_BUCKETS,
      registers,
    });
  }

  /** Counts one answered request. `model` is "" for routes without one (bounded by the catalog, not by clients). */
  record(route: string, model: string, status: number, seconds: number): void {
    const key = `${route}\u0000${model}\u0000${status}`;
    let c = this.cache.get(key);
    if (c === undefined) {
      c = { requests: this.requests.labels(route, model, String(status)), duration: this.duration.labels(route, model) };
      if (this.cache.size < 10_000) this.cache.set(key, c);
    }
    c.requests.inc();
    c.duration.observe(seconds);
  }

  /** Records how a batch request was split. */
  split(route: string, inputs: number, chunks: number): void {
    this.inputs.observe({ route }, inputs);
    this.chunks.observe({ route }, chunks);
  }
}
