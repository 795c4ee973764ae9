import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, test } from "vitest";
import { GatewayMetrics } from "../../src/gateway/gateway-metrics.ts";

/** The gateway's metrics as they were recorded through prom-client's labelled children: the reference exposition. */
class PromClientMetrics {
  private readonly requests: Counter<"route" | "model" | "status">;
  private readonly duration: Histogram<"route" | "model">;
  private readonly inputs: Histogram<"route">;
  private readonly chunks: Histogram<"route">;

  constructor(registry: Registry) {
    const registers = [registry];
    const latency = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    const sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048];
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
      buckets: latency,
      registers,
    });
    this.inputs = new Histogram({
      name: "tei_gateway_batch_inputs",
      help: "Inputs (texts, documents, id lists) per request.",
      labelNames: ["route"],
      buckets: sizes,
      registers,
    });
    this.chunks = new Histogram({
      name: "tei_gateway_batch_chunks",
      help: "Chunks of at most max_client_batch_size inputs a request was split into, spread over the model's replicas.",
      labelNames: ["route"],
      buckets: sizes,
      registers,
    });
  }

  record(route: string, model: string, status: number, seconds: number): void {
    this.requests.labels(route, model, String(status)).inc();
    this.duration.labels(route, model).observe(seconds);
  }

  split(route: string, inputs: number, chunks: number): void {
    this.inputs.observe({ route }, inputs);
    this.chunks.observe({ route }, chunks);
  }
}

type Recorder = Pick<GatewayMetrics, "record" | "split">;

/** Requests of several routes, models and statuses, latencies on and between bounds and above the last. */
function workload(m: Recorder): void {
  const latencies = [0.0001, 0.0005, 0.00051, 0.002, 0.0123, 0.5, 1, 7.25, 30, 31.5, 120];
  let i = 0;
  for (const route of ["/v1/embeddings", "/embed", "unknown", "/rerank"]) {
    for (const model of ["BAAI/bge-small-en-v1.5", "", 'we"ird\\model\nname']) {
      for (const status of [200, 499, 404, 200, 503]) {
        m.record(route, model, status, latencies[i++ % latencies.length] as number);
      }
    }
  }
  m.record("/v1/embeddings", "BAAI/bge-small-en-v1.5", 200, 0.0004);
  for (const [route, inputs, chunks] of [
    ["/v1/embeddings", 32, 1],
    ["/rerank", 100, 4],
    ["/v1/embeddings", 2048, 64],
    ["/embed", 3000, 94],
    ["/v1/embeddings", 2, 1],
  ] as const) {
    m.split(route, inputs, chunks);
  }
}

describe("the gateway's metrics", () => {
  test("expose what prom-client's labelled Counter and Histograms exposed for the same requests", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    workload(new GatewayMetrics(ours));
    workload(new PromClientMetrics(theirs));
    const text = await ours.metrics();
    expect(text).toContain('tei_gateway_requests_total{route="/v1/embeddings",model="BAAI/bge-small-en-v1.5",status="200"} 3');
    expect(text).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
  });

  test("in OpenMetrics too", async () => {
    const ours = new Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>();
    const theirs = new Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>();
    ours.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    theirs.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    // Both classes take the router's registry type (Prometheus text); the content type is the registry's business.
    workload(new GatewayMetrics(ours as unknown as Registry));
    workload(new PromClientMetrics(theirs as unknown as Registry));
    expect(await ours.metrics()).toContain("tei_gateway_requests_total{");
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  test("a reset empties them, and requests recorded after it are counted from zero", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const a = new GatewayMetrics(ours);
    const b = new PromClientMetrics(theirs);
    workload(a);
    workload(b);
    ours.resetMetrics();
    theirs.resetMetrics();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    for (const m of [a, b]) {
      m.record("/v1/embeddings", "BAAI/bge-small-en-v1.5", 200, 0.002);
      m.split("/v1/embeddings", 8, 1);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  test("a latency that is not a number is refused as prom-client refused it", () => {
    const m = new GatewayMetrics(new Registry());
    expect(() => m.record("/embed", "", 200, Number.NaN)).toThrow(new TypeError("Value is not a valid number: NaN"));
  });
});
