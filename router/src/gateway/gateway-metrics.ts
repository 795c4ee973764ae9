/**
 * The gateway's Prometheus metrics, registered in the router's registry (so `/metrics` on the
 * router's metrics port and on the gateway's port show both): requests by route, model and HTTP
 * status, their latency, and how requests were split into TEI calls.
 *
 * Recorded as plain numbers per series (found by reference, no string built), turned into
 * samples only when scraped, as the router's own call metrics are (metrics/call-collectors.ts):
 * prom-client's labelled children validate and hash their labels again on every `inc()` and
 * `observe()`. Measured at concurrency 1 (1 × 384 base64, gateway-profile.ts --base-dir, two
 * runs of 20 rounds): 5% of the router's CPU per request (~7 µs) and 2% of p50. The exposition is
 * what prom-client's Counter and Histogram print for the same counts: the same names, help,
 * label order, buckets and series order (first recorded first); the registry formats it.
 */
import { format } from "node:util";
import type { Metric, Registry } from "prom-client";

/** Latency buckets in seconds, from the sub-millisecond gateway overhead to long batches. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Inputs per request and TEI calls per request. */
const SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048];

/** One sample as prom-client's registry formats it (`sharedLabels` follow the own ones). */
interface Sample {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName?: string;
  exemplar?: null;
}

/** What prom-client's registry reads of a metric (its types know only its own classes). */
interface Collected {
  name: string;
  help: string;
  type: "counter" | "histogram";
  values: Sample[];
  aggregator: "sum";
}

/** A counter's series: its labels as prom-client keeps them (label-name order, string values). */
interface CounterSeries {
  readonly labels: Record<string, string>;
  value: number;
}

/** A histogram's series: per-bucket counts (not cumulative; the last is above every bound), sum and count. */
interface HistogramSeries {
  readonly labels: Record<string, string>;
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/** A counter registry entry over `series` (in creation order). */
class CounterCollector {
  readonly type = "counter";
  readonly aggregator = "sum";
  readonly series: CounterSeries[] = [];
  /** Not readonly: the registry renames counters for OpenMetrics, as it does prom-client's. */
  name: string;
  readonly help: string;

  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  get(): Collected {
    const values: Sample[] = [];
    for (const s of this.series) if (s.value > 0) values.push({ value: s.value, labels: s.labels });
    return { help: this.help, name: this.name, type: "counter", values, aggregator: "sum" };
  }

  /** Zeroes every series (left out until recorded again, as prom-client's reset drops them). */
  reset(): void {
    for (const s of this.series) s.value = 0;
  }
}

/** A histogram registry entry over `series` (in creation order). */
class HistogramCollector {
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly series: HistogramSeries[] = [];
  readonly name: string;
  readonly help: string;
  readonly bounds: readonly number[];

  constructor(name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.bounds = bounds;
  }

  newSeries(labels: Record<string, string>): HistogramSeries {
    const s: HistogramSeries = { labels, buckets: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
    this.series.push(s);
    return s;
  }

  /** Records `v` in `s`, as prom-client's observe does (`le` bounds; a value that is not a finite number throws). */
  observe(s: HistogramSeries, v: number): void {
    if (!Number.isFinite(v)) throw new TypeError(`Value is not a valid number: ${format(v)}`);
    const bounds = this.bounds;
    let b = 0;
    while (b < bounds.length && v > (bounds[b] as number)) b++;
    s.buckets[b] = (s.buckets[b] as number) + 1;
    s.sum += v;
    s.count += 1;
  }

  /** The samples as prom-client's Histogram gives them for the text exposition. */
  getForPromString(): Collected {
    const bucket = `${this.name}_bucket`;
    const values: Sample[] = [];
    for (const s of this.series) {
      if (s.count === 0) continue;
      let cumulative = 0;
      for (let b = 0; b < this.bounds.length; b++) {
        cumulative += s.buckets[b] as number;
        values.push({ labels: { le: this.bounds[b] as number }, sharedLabels: s.labels, value: cumulative, metricName: bucket, exemplar: null });
      }
      values.push({ labels: { le: "+Inf" }, sharedLabels: s.labels, value: s.count, metricName: bucket, exemplar: null });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count`, exemplar: undefined });
    }
    return { name: this.name, help: this.help, type: "histogram", values, aggregator: "sum" };
  }

  /** The samples as prom-client's Histogram gives them as JSON (shared labels merged into each). */
  get(): Collected {
    const c = this.getForPromString();
    c.values = c.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: Object.assign(labels, sharedLabels) }));
    return c;
  }

  /** Zeroes every series (left out until recorded again, as prom-client's reset drops them). */
  reset(): void {
    for (const s of this.series) {
      s.buckets.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}

/** The series one (route, model) records into: its latency, and its count per status. */
interface RouteModel {
  readonly duration: HistogramSeries;
  readonly byStatus: Map<number, CounterSeries>;
}

/** The gateway's metrics. */
export class GatewayMetrics {
  private readonly requests: CounterCollector;
  private readonly duration: HistogramCollector;
  private readonly inputs: HistogramCollector;
  private readonly chunks: HistogramCollector;
  /** route → model → its series. */
  private readonly byRoute = new Map<string, Map<string, RouteModel>>();
  /** The split histograms' series by route. */
  private readonly splits = new Map<string, { inputs: HistogramSeries; chunks: HistogramSeries }>();

  constructor(registry: Registry) {
    this.requests = new CounterCollector(
      "tei_gateway_requests_total",
      "HTTP requests answered by the gateway, by route, model (as requested) and HTTP status.",
    );
    this.duration = new HistogramCollector(
      "tei_gateway_request_duration_seconds",
      "Time from an HTTP request's arrival to its answer, by route and model.",
      LATENCY_BUCKETS,
    );
    this.inputs = new HistogramCollector("tei_gateway_batch_inputs", "Inputs (texts, documents, id lists) per request.", SIZE_BUCKETS);
    this.chunks = new HistogramCollector(
      "tei_gateway_batch_chunks",
      "Chunks of at most max_client_batch_size inputs a request was split into, spread over the model's replicas.",
      SIZE_BUCKETS,
    );
    for (const c of [this.requests, this.duration, this.inputs, this.chunks]) registry.registerMetric(c as unknown as Metric);
  }

  /** Counts one answered request. `model` is "" for routes without one (bounded by the catalog, not by clients). */
  record(route: string, model: string, status: number, seconds: number): void {
    let models = this.byRoute.get(route);
    if (models === undefined) this.byRoute.set(route, (models = new Map()));
    let rm = models.get(model);
    let requests = rm?.byStatus.get(status);
    if (requests === undefined) {
      // prom-client made a series at its first inc() (and observe()): the order stays that of first use.
      requests = { labels: { route, model, status: String(status) }, value: 0 };
      this.requests.series.push(requests);
      if (rm === undefined) models.set(model, (rm = { duration: this.duration.newSeries({ route, model }), byStatus: new Map() }));
      rm.byStatus.set(status, requests);
    }
    requests.value += 1;
    this.duration.observe((rm as RouteModel).duration, seconds);
  }

  /** Records how a batch request was split. */
  split(route: string, inputs: number, chunks: number): void {
    let s = this.splits.get(route);
    if (s === undefined) {
      s = { inputs: this.inputs.newSeries({ route }), chunks: this.chunks.newSeries({ route }) };
      this.splits.set(route, s);
    }
    this.inputs.observe(s.inputs, inputs);
    this.chunks.observe(s.chunks, chunks);
  }
}
