/**
 * TEI's Prometheus exporter (metrics-exporter-prometheus 0.15, tei.md §7): counters without a
 * `_total` suffix, no `# HELP` lines, real histograms with TEI's buckets, metrics that appear
 * only once recorded; served on --hostname:--prometheus-port where `GET /health` answers `OK`
 * and every other path answers the metrics text. Hand-written rather than prom-client, because
 * prom-client cannot drop the `_total`/HELP conventions and this must look like TEI.
 */
import { createServer, type Server } from "node:http";

/** 35 geometric buckets 1.5e-5 s × 1.5^k (router/src/prometheus.rs). */
const DURATION_BUCKETS = Array.from({ length: 35 }, (_, k) => 1.5e-5 * 1.5 ** k);
/** Powers of two from 1 to 2^n. */
const powersOfTwo = (n: number) => Array.from({ length: n + 1 }, (_, k) => 2 ** k);

/** A histogram with fixed upper bounds. */
class Histogram {
  readonly bounds: number[];
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(bounds: number[]) {
    this.bounds = bounds;
    this.counts = new Array<number>(bounds.length).fill(0);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        this.counts[i] = (this.counts[i] as number) + 1;
        return;
      }
    }
  }
}

/** The metrics registry of one fake TEI process. */
export class TeiMetrics {
  private readonly counters = new Map<string, Map<string, number>>();
  private readonly gauges = new Map<string, number>();
  private readonly histograms = new Map<string, Histogram>();
  private readonly inputLengthBuckets: number[];

  constructor(maxInputLength: number) {
    this.inputLengthBuckets = powersOfTwo(Math.min(19, Math.ceil(Math.log2(Math.max(1, maxInputLength)))));
  }

  /** Increments a counter; `labels` is the rendered label set, e.g. `method="single"`. */
  inc(name: string, labels = "", by = 1): void {
    let series = this.counters.get(name);
    if (!series) this.counters.set(name, (series = new Map()));
    series.set(labels, (series.get(labels) ?? 0) + by);
  }

  /** Sets a gauge. */
  set(name: string, value: number): void {
    this.gauges.set(name, value);
  }

  /** Records a histogram sample; bucket layout follows the metric name like TEI's builder. */
  observe(name: string, value: number): void {
    let h = this.histograms.get(name);
    if (!h) {
      const bounds =
        name === "te_request_input_length"
          ? this.inputLengthBuckets
          : name === "te_batch_next_size"
            ? powersOfTwo(12)
            : name === "te_batch_next_tokens"
              ? powersOfTwo(20)
              : DURATION_BUCKETS;
      this.histograms.set(name, (h = new Histogram(bounds)));
    }
    h.observe(value);
  }

  /** Records the four timing histograms of one request (seconds) under a prefix. */
  timings(prefix: "te_request" | "te_embed" | "te_predict", t: { total: number; tokenization: number; queue: number; inference: number }): void {
    this.observe(`${prefix}_duration`, t.total);
    this.observe(`${prefix}_tokenization_duration`, t.tokenization);
    this.observe(`${prefix}_queue_duration`, t.queue);
    this.observe(`${prefix}_inference_duration`, t.inference);
  }

  /** The exposition text. */
  render(): string {
    const parts: string[] = [];
    for (const [name, series] of this.counters) {
      const lines = [`# TYPE ${name} counter`];
      for (const [labels, value] of series) lines.push(`${name}${labels ? `{${labels}}` : ""} ${value}`);
      parts.push(lines.join("\n"));
    }
    for (const [name, value] of this.gauges) parts.push(`# TYPE ${name} gauge\n${name} ${value}`);
    for (const [name, h] of this.histograms) {
      const lines = [`# TYPE ${name} histogram`];
      let cumulative = 0;
      h.bounds.forEach((bound, i) => {
        cumulative += h.counts[i] as number;
        lines.push(`${name}_bucket{le="${bound}"} ${cumulative}`);
      });
      lines.push(`${name}_bucket{le="+Inf"} ${h.count}`, `${name}_sum ${h.sum}`, `${name}_count ${h.count}`);
      parts.push(lines.join("\n"));
    }
    return parts.length === 0 ? "" : `${parts.join("\n\n")}\n`;
  }
}

/**
 * Binds the exporter on host:port. Resolves once listening; rejects with the listen error
 * (EADDRINUSE when another process holds the port), which main reports like TEI does.
 */
export function serveMetrics(metrics: TeiMetrics, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === "/health") {
      res.writeHead(200, { "content-type": "text/plain" }).end("OK");
      return;
    }
    res.writeHead(200, { "content-type": "text/plain" }).end(metrics.render());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}
