/**
 * The router's Prometheus metrics, in a registry of its own. Labelled children are looked up once
 * per (replica, method) and cached on the replica, so recording a call costs no label hashing.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { GRPC_STATUS_NAMES } from "./grpc-status.ts";
import type { MethodSpec } from "./method-table.ts";
import type { Replica } from "./route-table.ts";

/** Cached metric children for one method on one replica. */
export interface MethodMetrics {
  /** Observes call duration in seconds. */
  readonly duration: { observe(v: number): void };
  /** Per status code; filled lazily. */
  readonly byCode: ({ inc(): void } | undefined)[];
  readonly labels: { method: string; model: string; instance: string };
}

/** What the metrics need to know about the route table (read at scrape time). */
export interface TableInfo {
  readonly version: bigint;
  readonly updatedAt: number;
  readonly size: number;
}

const LATENCY_BUCKETS = [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** All metrics of one router process. */
export class RouterMetrics {
  /** The registry served on the metrics port. */
  readonly registry: Registry;
  private readonly requests: Counter<"method" | "model" | "instance" | "code">;
  private readonly duration: Histogram<"method" | "model" | "instance">;
  /** Calls currently being proxied. */
  readonly inFlight: Gauge;
  private readonly retries: Counter<"model">;
  private readonly ejections: Counter<"instance" | "node">;
  private readonly malformedRequests: Counter;
  /** Metric children for calls that never reached a replica (routing and input errors). */
  private readonly unrouted: (MethodMetrics | undefined)[] = [];

  /**
   * @param table - read at scrape time for the table version, age and size
   * @param registry - defaults to a new Registry with Node's default process metrics
   */
  constructor(table: TableInfo, registry?: Registry) {
    const reg = registry ?? new Registry();
    if (registry === undefined) collectDefaultMetrics({ register: reg });
    this.registry = reg;
    this.requests = new Counter({
      name: "tei_router_requests_total",
      help: "Calls handled, by method, model, instance and gRPC status (empty model/instance: not routed).",
      labelNames: ["method", "model", "instance", "code"],
      registers: [reg],
    });
    this.duration = new Histogram({
      name: "tei_router_request_duration_seconds",
      help: "Time from a call's headers to its end (whole stream for streaming calls).",
      labelNames: ["method", "model", "instance"],
      buckets: LATENCY_BUCKETS,
      registers: [reg],
    });
    this.inFlight = new Gauge({ name: "tei_router_in_flight_requests", help: "Calls being proxied now.", registers: [reg] });
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

  /** The cached children for a call of `method` served (or refused) by `replica`. */
  forCall(replica: Replica | null, method: MethodSpec): MethodMetrics {
    const cache = replica === null ? this.unrouted : replica.metrics;
    let m = cache[method.id];
    if (m === undefined) {
      const labels = {
        method: method.name,
        model: replica === null ? "" : replica.modelId,
        instance: replica === null ? "" : replica.instanceName,
      };
      m = { duration: this.duration.labels(labels), byCode: [], labels };
      cache[method.id] = m;
    }
    return m;
  }

  /** Records a finished call. */
  record(m: MethodMetrics, code: number, seconds: number): void {
    m.duration.observe(seconds);
    let c = m.byCode[code];
    if (c === undefined) {
      c = this.requests.labels({ ...m.labels, code: GRPC_STATUS_NAMES[code] ?? String(code) });
      m.byCode[code] = c;
    }
    c.inc();
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
  ejected(r: Replica): void {
    this.ejections.labels(r.instanceName, r.node).inc();
  }
}
