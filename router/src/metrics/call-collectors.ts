/**
 * The two per-call metrics, `tei_router_requests_total` (a counter by method, model, instance
 * and status) and `tei_router_request_duration_seconds` (a histogram by method, model and
 * instance), as prom-client registry entries that read MethodMetrics when scraped. Their samples
 * are what prom-client's own Counter and Histogram print for the same counts (the registry does
 * the formatting), so the exposition did not change when recording stopped going through them.
 */
import type { Metric, Registry } from "prom-client";
import { LATENCY_BUCKETS, type MethodMetrics } from "./method-metrics.ts";

/** One sample as prom-client's registry formats it (shared labels follow the own ones). */
interface Sample {
  labels: Record<string, string | number>;
  sharedLabels?: object;
  value: number;
  metricName?: string;
}

/** What a prom-client registry asks of a metric; its types know only its own classes. */
interface Collector {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "histogram";
  readonly aggregator: "sum";
  /** The samples as prom-client's JSON export gives them (each with all its labels). */
  get(): { name: string; help: string; type: string; values: Sample[]; aggregator: "sum" };
  /** The samples for the text exposition (the registry prefers this when present). */
  getForPromString?(): { name: string; help: string; type: string; values: Sample[]; aggregator: "sum" };
  reset(): void;
}

function register(registry: Registry, collector: Collector): void {
  registry.registerMetric(collector as unknown as Metric);
}

/**
 * Registers the calls counter over `series` (every MethodMetrics created, in creation order).
 * @param codeNames - the `code` label of each status code
 */
export function registerRequestsCounter(registry: Registry, name: string, help: string, series: readonly MethodMetrics[], codeNames: readonly string[]): void {
  const values = (): Sample[] => {
    const out: Sample[] = [];
    for (const m of series) {
      for (let code = 0; code < m.byCode.length; code++) {
        const n = m.byCode[code] as number;
        if (n > 0) out.push({ labels: { ...m.labels, code: codeNames[code] ?? String(code) }, value: n });
      }
    }
    return out;
  };
  register(registry, {
    name,
    help,
    type: "counter",
    aggregator: "sum",
    get: () => ({ name, help, type: "counter", values: values(), aggregator: "sum" }),
    reset: () => {
      for (const m of series) m.byCode.fill(0);
    },
  });
}

/** Registers the duration histogram over `series`. */
export function registerDurationHistogram(registry: Registry, name: string, help: string, series: readonly MethodMetrics[]): void {
  const bucket = `${name}_bucket`;
  const values = (): Sample[] => {
    const out: Sample[] = [];
    for (const m of series) {
      if (m.count === 0) continue;
      let cumulative = 0;
      for (let b = 0; b < LATENCY_BUCKETS.length; b++) {
        cumulative += m.buckets[b] as number;
        out.push({ labels: { le: LATENCY_BUCKETS[b] as number }, sharedLabels: m.labels, value: cumulative, metricName: bucket });
      }
      out.push({ labels: { le: "+Inf" }, sharedLabels: m.labels, value: m.count, metricName: bucket });
      out.push({ labels: {}, sharedLabels: m.labels, value: m.sum, metricName: `${name}_sum` });
      out.push({ labels: {}, sharedLabels: m.labels, value: m.count, metricName: `${name}_count` });
    }
    return out;
  };
  register(registry, {
    name,
    help,
    type: "histogram",
    aggregator: "sum",
    get: () => ({
      name,
      help,
      type: "histogram",
      values: values().map((v) => ({ ...v, labels: { ...v.sharedLabels, ...v.labels }, sharedLabels: {} })),
      aggregator: "sum",
    }),
    getForPromString: () => ({ name, help, type: "histogram", values: values(), aggregator: "sum" }),
    reset: () => {
      for (const m of series) {
        m.buckets.fill(0);
        m.sum = 0;
        m.count = 0;
      }
    },
  });
}
