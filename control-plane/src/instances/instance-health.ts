import type { StoredInstance } from "../store/instance-repository.ts";
import { aggregateStatus, primaryReplica } from "./instance-status.ts";
import { uptimeSecs } from "./instance-view.ts";

/** `GET /instances/:name/health`: the REST shape the tei-manager testers asked for (seed 001 #3). */
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
 * The health of one instance as the control plane keeps it: times as numbers (epoch ms), the one
 * source both API surfaces read. Connect sends the numbers as they are; REST formats them once,
 * in {@link instanceHealthView}.
 */
export interface InstanceHealthState {
  instance: string;
  healthy: boolean;
  status: string;
  /** Latest health check of any replica, epoch ms; null before the first one. */
  lastCheckMs: number | null;
  /** The replicas' current runs of failed health checks, summed. */
  consecutiveFailures: number;
  uptimeSeconds: number;
  /** Why an unhealthy instance is unhealthy. */
  error?: string;
}

/** The fleet's health as the control plane keeps it (see {@link InstanceHealthState}); REST formats it in {@link fleetHealthView}. */
export interface FleetHealthState {
  /** When it was read, epoch ms. */
  timestampMs: number;
  totalInstances: number;
  healthyCount: number;
  unhealthyCount: number;
  stoppedCount: number;
  overallStatus: OverallStatus;
  instances: InstanceHealthState[];
}

/**
 * Reads the health of one instance from its record and replicas. `consecutiveFailures` sums the
 * replicas' current runs of failed health checks; `error` says why an unhealthy instance is
 * unhealthy.
 */
export function readInstanceHealth({ instance, replicas }: StoredInstance, now = Date.now()): InstanceHealthState {
  const agg = aggregateStatus(instance, replicas);
  const lastCheck = replicas.reduce((max, r) => Math.max(max, Number(r.lastHealthCheckMs ?? 0)), 0);
  return {
    instance: instance.spec?.name ?? "",
    healthy: agg.healthy,
    status: agg.status,
    lastCheckMs: lastCheck > 0 ? lastCheck : null,
    consecutiveFailures: replicas.reduce((n, r) => n + r.healthCheckFailures, 0),
    uptimeSeconds: uptimeSecs(primaryReplica(replicas), now) ?? 0,
    ...(agg.healthy ? {} : { error: agg.reason || agg.status }),
  };
}

/** The REST shape of an instance's health: the one place its times become ISO 8601 text. */
export function instanceHealthView(h: InstanceHealthState): InstanceHealthView {
  return {
    instance: h.instance,
    healthy: h.healthy,
    status: h.status,
    last_check: h.lastCheckMs === null ? null : new Date(h.lastCheckMs).toISOString(),
    consecutive_failures: h.consecutiveFailures,
    uptime_seconds: h.uptimeSeconds,
    ...(h.error !== undefined ? { error: h.error } : {}),
  };
}

/** `GET /instances/:name/health`: {@link readInstanceHealth} in the REST shape. */
export function instanceHealth(stored: StoredInstance, now = Date.now()): InstanceHealthView {
  return instanceHealthView(readInstanceHealth(stored, now));
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

/** Reads the fleet's health from every instance. */
export function readFleetHealth(all: readonly StoredInstance[], now = Date.now()): FleetHealthState {
  const instances = all.map((s) => readInstanceHealth(s, now));
  const stopped = all.filter((s) => (s.instance.spec?.desiredState ?? "running") === "stopped").length;
  const healthy = instances.filter((h) => h.healthy).length;
  const unhealthy = instances.length - healthy - stopped;
  return {
    timestampMs: now,
    totalInstances: instances.length,
    healthyCount: healthy,
    unhealthyCount: unhealthy,
    stoppedCount: stopped,
    overallStatus: overallStatus(healthy, unhealthy),
    instances,
  };
}

/** The REST shape of the fleet's health (ISO 8601 times, snake_case names). */
export function fleetHealthView(h: FleetHealthState): FleetHealthView {
  return {
    timestamp: new Date(h.timestampMs).toISOString(),
    total_instances: h.totalInstances,
    healthy_count: h.healthyCount,
    unhealthy_count: h.unhealthyCount,
    stopped_count: h.stoppedCount,
    overall_status: h.overallStatus,
    instances: h.instances.map(instanceHealthView),
  };
}

/** `GET /health/all`: {@link readFleetHealth} in the REST shape. */
export function fleetHealth(all: readonly StoredInstance[], now = Date.now()): FleetHealthView {
  return fleetHealthView(readFleetHealth(all, now));
}
