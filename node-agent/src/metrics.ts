import { REPLICA_PHASES } from "@tei-fleet/core";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * The agent's Prometheus metrics on its own registry (never the global one, so tests and several
 * agents in one process do not collide). Per-instance gauges are filled at scrape time from the
 * supervisors' status, so they can never drift from what heartbeats report.
 */

/** The per-instance facts sampled at scrape time. */
export interface InstanceSample {
  assignmentId: string;
  instance: string;
  status: string;
  restarts: number;
  port: number;
  prometheusPort: number;
}

/** The agent's metrics. */
export interface AgentMetrics {
  readonly registry: Registry;
  observeProbe(sample: { assignmentId: string; instance: string }, ok: boolean, latencySeconds: number): void;
  heartbeat(ok: boolean): void;
  /** Whether the last call to the control plane (register or heartbeat) succeeded. */
  controlPlaneConnected(ok: boolean): void;
}

/** Creates the metrics; `instances` is called on every scrape. */
export function createAgentMetrics(instances: () => InstanceSample[], options: { defaultMetrics?: boolean } = {}): AgentMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: "tei_fleet_agent_" });

  new Gauge({
    name: "tei_fleet_agent_instance_status",
    help: "1 for the current status of each TEI replica on this node, 0 for the others",
    labelNames: ["assignment_id", "instance", "status"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of instances()) {
        for (const status of REPLICA_PHASES) {
          this.set({ assignment_id: s.assignmentId, instance: s.instance, status }, s.status === status ? 1 : 0);
        }
      }
    },
  });
  new Gauge({
    name: "tei_fleet_agent_instance_restarts",
    help: "Restarts of each TEI replica after a failure (kept across agent restarts)",
    labelNames: ["assignment_id", "instance"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of instances()) this.set({ assignment_id: s.assignmentId, instance: s.instance }, s.restarts);
    },
  });
  new Gauge({
    name: "tei_fleet_agent_instance_prometheus_port",
    help: "TEI's own Prometheus port for each replica (scrape it at the node address)",
    labelNames: ["assignment_id", "instance"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of instances()) this.set({ assignment_id: s.assignmentId, instance: s.instance }, s.prometheusPort);
    },
  });
  const probeSeconds = new Histogram({
    name: "tei_fleet_agent_probe_duration_seconds",
    help: "Latency of liveness probes (a tiny real request) per replica",
    labelNames: ["assignment_id", "instance", "result"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const probeFailures = new Counter({
    name: "tei_fleet_agent_probe_failures_total",
    help: "Failed liveness probes per replica",
    labelNames: ["assignment_id", "instance"],
    registers: [registry],
  });
  const heartbeats = new Counter({
    name: "tei_fleet_agent_heartbeats_total",
    help: "Heartbeats sent to the control plane, by result",
    labelNames: ["result"],
    registers: [registry],
  });

  const connected = new Gauge({
    name: "tei_fleet_agent_control_plane_connected",
    help: "1 when the last call to the control plane succeeded; instances keep running either way",
    registers: [registry],
  });
  connected.set(0);

  return {
    registry,
    controlPlaneConnected(ok) {
      connected.set(ok ? 1 : 0);
    },
    observeProbe(sample, ok, latencySeconds) {
      const labels = { assignment_id: sample.assignmentId, instance: sample.instance };
      probeSeconds.observe({ ...labels, result: ok ? "ok" : "failed" }, latencySeconds);
      if (!ok) probeFailures.inc(labels);
    },
    heartbeat(ok) {
      heartbeats.inc({ result: ok ? "ok" : "failed" });
    },
  };
}
