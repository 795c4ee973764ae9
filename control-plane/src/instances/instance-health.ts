import type { StoredInstance } from "../store/instance-repository.ts";
import { aggregateStatus, primaryReplica } from "./instance-status.ts";
import { uptimeSecs } from "./instance-view.ts";

/** `GET /instances/:name/health`: the shape the tei-manager testers asked for (seed 001 #3). */
export interface InstanceHealthView {
  instance: string;
  healthy: boolean;
  status: string;
  last_check: string | null;
  consecutive_failures: number;
  uptime_seconds: number;
  error?: string;
}

/** Overall status of the fleet's instances (seed 001 #5). */
export type OverallStatus = "healthy" | "degraded" | "critical" | "down";

/** `GET /health/all` (seed 001 #5), plus `stopped_count`. */
export interface FleetHealthView {
  timestamp: string;
  total_instances: number;
  healthy_count: number;
  unhealthy_count: number;
  stopped_count: number;
  overall_status: OverallStatus;
  instances: InstanceHealthView[];
}

/**
 * The health of one instance. `consecutive_failures` sums the replicas' current runs of failed
 * health checks; `error` says why an unhealthy instance is unhealthy.
 */
export function instanceHealth({ instance, replicas }: StoredInstance, now = Date.now()): InstanceHealthView {
  const agg = aggregateStatus(instance, replicas);
  const lastCheck = replicas.reduce((max, r) => Math.max(max, Number(r.lastHealthCheckMs ?? 0)), 0);
  return {
    instance: instance.spec?.name ?? "",
    healthy: agg.healthy,
    status: agg.status,
    last_check: lastCheck > 0 ? new Date(lastCheck).toISOString() : null,
    consecutive_failures: replicas.reduce((n, r) => n + r.healthCheckFailures, 0),
    uptime_seconds: uptimeSecs(primaryReplica(replicas), now) ?? 0,
    ...(agg.healthy ? {} : { error: agg.reason || agg.status }),
  };
}

/**
 * The overall status over the instances meant to run (stopped-by-request instances are listed but
 * not counted, so stopping one on purpose does not degrade the fleet):
 * healthy when all are healthy, down when all are unhealthy, critical when a majority (more than
 * half) is unhealthy, degraded otherwise. With nothing meant to run, nothing is unhealthy: healthy.
 */
export function overallStatus(healthy: number, unhealthy: number): OverallStatus {
  if (unhealthy === 0) return "healthy";
  if (healthy === 0) return "down";
  return unhealthy * 2 > healthy + unhealthy ? "critical" : "degraded";
}

/** `GET /health/all` from every instance. */
export function fleetHealth(all: readonly StoredInstance[], now = Date.now()): FleetHealthView {
  const instances = all.map((s) => instanceHealth(s, now));
  const stopped = all.filter((s) => (s.instance.spec?.desiredState ?? "running") === "stopped").length;
  const healthy = instances.filter((h) => h.healthy).length;
  const unhealthy = instances.length - healthy - stopped;
  return {
    timestamp: new Date(now).toISOString(),
    total_instances: instances.length,
    healthy_count: healthy,
    unhealthy_count: unhealthy,
    stopped_count: stopped,
    overall_status: overallStatus(healthy, unhealthy),
    instances,
  };
}
