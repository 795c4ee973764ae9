import { INSTANCE_STATUSES, type InstanceStatus } from "@tei-fleet/core";
import type { Logger } from "pino";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { aggregateStatus } from "../instances/instance-status.ts";
import type { FleetSnapshot } from "./fleet-snapshot.ts";

const NODE_STATES = ["ready", "cordoned", "draining", "lost", "left"];

/** The control plane's Prometheus metrics (one Registry per control plane, never the global one). */
export interface ApiMetrics {
  registry: Registry;
  /** tei_manager_instances_created_total, on each API create. */
  instanceCreated(name: string, modelId: string): void;
  /** tei_manager_instances_deleted_total, on each API delete. */
  instanceDeleted(name: string): void;
  /** tei_fleet_api_request_duration_seconds. */
  observeRequest(method: string, route: string, statusCode: number, seconds: number): void;
}

/**
 * Creates the metrics. tei-manager's five names are kept with their labels so existing dashboards
 * keep working:
 * - `tei_manager_instances_created_total{instance,model}` / `_deleted_total{instance}`: API
 *   actions seen by this process (sum over control-plane replicas);
 * - `tei_manager_instances_count`: instances in the fleet, read from Redis at scrape time;
 * - `tei_manager_instance_restarts_total{instance}` and `tei_manager_health_check_failures_total{instance}`:
 *   derived at scrape time from the replicas' counters reported by agents. Each replica's
 *   increase since the last scrape is added, so the counters only grow (a replaced replica's
 *   new counter starts from its own value). Every control-plane replica reports fleet-wide
 *   values: aggregate these two with max, not sum, across control planes.
 * plus `tei_fleet_nodes{state}`, `tei_fleet_gpus{state}`, `tei_fleet_instances{status}` and
 * `tei_fleet_api_request_duration_seconds{method,route,status_code}`.
 */
export function createApiMetrics(snapshot: () => Promise<FleetSnapshot>, logger: Logger): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const created = new Counter({
    name: "tei_manager_instances_created_total",
    help: "Instances created through the API",
    labelNames: ["instance", "model"],
    registers: [registry],
  });
  const deleted = new Counter({
    name: "tei_manager_instances_deleted_total",
    help: "Instances deleted through the API",
    labelNames: ["instance"],
    registers: [registry],
  });
  const latency = new Histogram({
    name: "tei_fleet_api_request_duration_seconds",
    help: "API request latency (REST and Connect)",
    labelNames: ["method", "route", "status_code"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });

  // Last seen per-replica counters, keyed by assignment id, for the derived counters.
  const seen = new Map<string, { restarts: number; failures: number }>();
  let derived: Promise<void> | undefined;
  const restarts = new Counter({
    name: "tei_manager_instance_restarts_total",
    help: "Restarts of instance processes (reported by node agents)",
    labelNames: ["instance"],
    registers: [registry],
    collect: () => deriveCounters(),
  });
  const failures = new Counter({
    name: "tei_manager_health_check_failures_total",
    help: "Failed health checks of instances (reported by node agents)",
    labelNames: ["instance"],
    registers: [registry],
    collect: () => deriveCounters(),
  });

  const safeSnapshot = async () => {
    try {
      return await snapshot();
    } catch (err) {
      logger.warn({ err }, "metrics: could not read the fleet from Redis");
      return undefined;
    }
  };

  // Both derived counters call this during one scrape; share one pass.
  const deriveCounters = () => {
    derived ??= (async () => {
      const snap = await safeSnapshot();
      if (!snap) return;
      const live = new Set<string>();
      for (const { instance, replicas } of snap.instances) {
        const name = instance.spec?.name ?? "";
        restarts.inc({ instance: name }, 0);
        failures.inc({ instance: name }, 0);
        for (const r of replicas) {
          live.add(r.assignmentId);
          const before = seen.get(r.assignmentId) ?? { restarts: 0, failures: 0 };
          if (r.restarts > before.restarts) restarts.inc({ instance: name }, r.restarts - before.restarts);
          // Health-check failures are a current run that resets on success: count each rise.
          if (r.healthCheckFailures > before.failures) failures.inc({ instance: name }, r.healthCheckFailures - before.failures);
          seen.set(r.assignmentId, { restarts: Math.max(before.restarts, r.restarts), failures: r.healthCheckFailures });
        }
      }
      for (const id of seen.keys()) if (!live.has(id)) seen.delete(id);
    })().finally(() => {
      derived = undefined;
    });
    return derived;
  };

  new Gauge({
    name: "tei_manager_instances_count",
    help: "Instances in the fleet",
    registers: [registry],
    async collect() {
      const snap = await safeSnapshot();
      if (snap) this.set(snap.instances.length);
    },
  });
  new Gauge({
    name: "tei_fleet_instances",
    help: "Instances by aggregate status",
    labelNames: ["status"],
    registers: [registry],
    async collect() {
      const snap = await safeSnapshot();
      if (!snap) return;
      const counts = new Map<InstanceStatus, number>(INSTANCE_STATUSES.map((s) => [s, 0]));
      for (const { instance, replicas } of snap.instances) {
        const { status } = aggregateStatus(instance, replicas);
        counts.set(status, (counts.get(status) ?? 0) + 1);
      }
      for (const [status, n] of counts) this.set({ status }, n);
    },
  });
  new Gauge({
    name: "tei_fleet_nodes",
    help: "Nodes by state (draining and cordoned ready nodes counted apart)",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      const snap = await safeSnapshot();
      if (!snap) return;
      const counts = new Map<string, number>(NODE_STATES.map((s) => [s, 0]));
      for (const n of snap.nodes) {
        const state = n.state === "ready" && n.draining ? "draining" : n.state === "ready" && n.cordoned ? "cordoned" : n.state || "ready";
        counts.set(state, (counts.get(state) ?? 0) + 1);
      }
      for (const [state, n] of counts) this.set({ state }, n);
    },
  });
  new Gauge({
    name: "tei_fleet_gpus",
    help: "GPUs of nodes that have not left, in use (memory claimed by an instance) or free",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      const snap = await safeSnapshot();
      if (!snap) return;
      let inUse = 0;
      let free = 0;
      for (const n of snap.nodes) {
        if (n.state === "left") continue;
        const claimed = snap.claimedGpus.get(n.name) ?? new Set<number>();
        for (const g of n.gpus) claimed.has(g.index) ? inUse++ : free++;
      }
      this.set({ state: "in_use" }, inUse);
      this.set({ state: "free" }, free);
    },
  });

  return {
    registry,
    instanceCreated: (name, model) => created.inc({ instance: name, model }),
    instanceDeleted: (name) => deleted.inc({ instance: name }),
    observeRequest: (method, route, statusCode, seconds) => latency.observe({ method, route, status_code: String(statusCode) }, seconds),
  };
}
