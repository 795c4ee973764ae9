/**
 * The router's Prometheus metrics, in a registry of its own. The per-call ones are kept per
 * (replica, method) in a MethodMetrics cached on the replica, so recording a call is a few
 * additions: no label hashing, no allocation (method-metrics.ts says why that matters).
 *
 * Replicas are seen through {@link MeteredReplica} (the fields read here), so this file does not
 * depend on the route table, whose Replica type holds the cache defined here.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { GRPC_STATUS_NAMES } from "../grpc/grpc-status.ts";
import type { MethodSpec } from "../tei/method-table.ts";
import { registerDurationHistogram, registerRequestsCounter } from "./call-collectors.ts";
import { MethodMetrics } from "./method-metrics.ts";

/** What the metrics read of a replica (a route-table Replica), and the cache they keep on it. */
export interface MeteredReplica {
  readonly instanceName: string;
  readonly modelId: string;
  readonly node: string;
  /** Metrics per method id, filled lazily by {@link RouterMetrics.forCall}. */
  readonly metrics: (MethodMetrics | undefined)[];
}

/** What the metrics need to know about the route table (read at scrape time). */
export interface TableInfo {
  readonly version: bigint;
  readonly updatedAt: number;
  readonly size: number;
}

/** All metrics of one router process. */
export class RouterMetrics {
  /** The registry served on the metrics port. */
  readonly registry: Registry;
  private readonly retries: Counter<"model">;
  private readonly ejections: Counter<"instance" | "node">;
  private readonly malformedRequests: Counter;
  /** Every MethodMetrics created, in creation order (what the per-call metrics print). */
  private readonly series: MethodMetrics[] = [];
  /** The same, by method id, model and instance (looked up only when a replica's cache misses). */
  private readonly byLabels = new Map<string, MethodMetrics>();
  /** Metrics for calls that never reached a replica (routing and input errors). */
  private readonly unrouted: (MethodMetrics | undefined)[] = [];
  /** Calls being proxied now (read at scrape time). */
  private inFlight = 0;

  /**
   * @param table - read at scrape time for the table version, age and size
   * @param registry - defaults to a new Registry with Node's default process metrics
   */
  constructor(table: TableInfo, registry?: Registry) {
    const reg = registry ?? new Registry();
    if (registry === undefined) collectDefaultMetrics({ register: reg });
    this.registry = reg;
    registerRequestsCounter(
      reg,
      "tei_router_requests_total",
      "Calls handled, by method, model, instance and gRPC status (empty model/instance: not routed).",
      this.series,
      GRPC_STATUS_NAMES,
    );
    registerDurationHistogram(
      reg,
      "tei_router_request_duration_seconds",
      "Time from a call's headers to its end (whole stream for streaming calls).",
      this.series,
    );
    const self = this;
    new Gauge({
      name: "tei_router_in_flight_requests",
      help: "Calls being proxied now.",
      registers: [reg],
      collect() {
        this.set(self.inFlight);
      },
    });
    this.retries = new Counter({
      name: "tei_router_retries_total",
      help: "Unary calls retried on another replica after a connection failure or UNAVAILABLE.",
      labelNames: ["model"],
      registers: [reg],
    });
    this.ejections = new Counter({
      name: "tei_router_ejections_total",
      help: "Replicas ejected by passive outlier detection.",
      labelNames: ["instance", "node"],
      registers: [reg],
    });
    this.malformedRequests = new Counter({
      name: "tei_router_malformed_requests_total",
      help: "Requests refused as malformed HTTP/2 (RFC 9113 §8.2, §8.3) with RST_STREAM PROTOCOL_ERROR, never forwarded.",
      registers: [reg],
    });
    new Gauge({
      name: "tei_router_route_table_version",
      help: "Version of the route table in use.",
      registers: [reg],
      collect() {
        this.set(Number(table.version));
      },
    });
    new Gauge({
      name: "tei_router_route_table_age_seconds",
      help: "Seconds since the route table was last replaced (-1 before the first table).",
      registers: [reg],
      collect() {
        this.set(table.updatedAt === 0 ? -1 : (Date.now() - table.updatedAt) / 1000);
      },
    });
    new Gauge({
      name: "tei_router_route_table_replicas",
      help: "Replicas in the route table.",
      registers: [reg],
      collect() {
        this.set(table.size);
      },
    });
  }

  /** The metrics of calls of `method` served (or refused) by `replica` (null: never routed). */
  forCall(replica: MeteredReplica | null, method: MethodSpec): MethodMetrics {
    const cache = replica === null ? this.unrouted : replica.metrics;
    let m = cache[method.id];
    if (m === undefined) {
      const model = replica === null ? "" : replica.modelId;
      const instance = replica === null ? "" : replica.instanceName;
      // A replica that comes back as a new object (another node, a new assignment) under the
      // same labels continues their series: one series per label set, as Prometheus requires.
      const key = `${method.id}\u0000${model}\u0000${instance}`;
      m = this.byLabels.get(key);
      if (m === undefined) {
        m = new MethodMetrics({ method: method.name, model, instance });
        this.byLabels.set(key, m);
        this.series.push(m);
      }
      cache[method.id] = m;
    }
    return m;
  }

  /** Records a finished call. */
  record(m: MethodMetrics, code: number, seconds: number): void {
    m.record(code, seconds);
  }

  /** A call started being proxied. */
  callStarted(): void {
    this.inFlight++;
  }

  /** A proxied call ended (after `record`). */
  callEnded(): void {
    this.inFlight--;
  }

  /** Counts a retry toward another replica of `model`. */
  retried(model: string): void {
    this.retries.labels(model).inc();
  }

  /** Counts a request refused as malformed by the HTTP/2 layer. */
  malformed(): void {
    this.malformedRequests.inc();
  }

  /** Counts an ejection. */
  ejected(r: MeteredReplica): void {
    this.ejections.labels(r.instanceName, r.node).inc();
  }
}
