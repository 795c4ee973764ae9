/**
 * What the router counts about the calls of one method on one replica (or on none, for calls
 * refused before routing): how many ended with each gRPC status, and how long they took. Plain
 * numbers, recorded in O(1) without allocating; call-collectors.ts turns them into Prometheus
 * samples when /metrics is scraped.
 *
 * Why not prom-client's labelled children: each `observe()` and `inc()` on a child validates and
 * hashes its labels again (a string built per call). That cost several microseconds of every
 * call, spent between a backend's answer and its write to the client.
 */

/** Upper bounds of the duration histogram, in seconds. */
export const LATENCY_BUCKETS: readonly number[] = [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The labels of one series: the method, and the replica's model and instance ("" when unrouted). */
export interface SeriesLabels {
  readonly method: string;
  readonly model: string;
  readonly instance: string;
}

/** Numbers kept per gRPC status code: 0 to 16. */
const CODES = 17;

/** The metrics of one method's calls on one replica. */
export class MethodMetrics {
  readonly labels: SeriesLabels;
  /** Calls ended, by gRPC status code. */
  readonly byCode = new Float64Array(CODES);
  /** Durations per bucket (not cumulative); the last one counts those above every bound. */
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  /** Sum of the durations, in seconds. */
  sum = 0;
  /** Calls recorded. */
  count = 0;

  constructor(labels: SeriesLabels) {
    this.labels = labels;
  }

  /** Records one call that ended with gRPC status `code` after `seconds`. */
  record(code: number, seconds: number): void {
    let b = 0;
    while (b < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[b] as number)) b++;
    this.buckets[b] = (this.buckets[b] as number) + 1;
    this.sum += seconds;
    this.count++;
    // Status codes come from parseGrpcStatus or the router's own, both 0 to 16.
    if (code >= 0 && code < CODES) this.byCode[code] = (this.byCode[code] as number) + 1;
  }
}
