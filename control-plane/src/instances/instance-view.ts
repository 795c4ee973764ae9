import type { Instance, Replica } from "@tei-fleet/proto/fleet/v1";
import { isUnreadable } from "../store/instance-record.ts";
import { specToJson } from "./instance-spec.ts";
import { aggregateStatus, type InstanceStatus, primaryReplica } from "./instance-status.ts";

const iso = (ms: bigint | number | undefined) => (ms === undefined || ms === 0n || ms === 0 ? null : new Date(Number(ms)).toISOString());

/** One replica as the REST API shows it. */
export interface ReplicaView {
  assignment_id: string;
  index: number;
  revision: number;
  node: string;
  address: string;
  port: number;
  prometheus_port: number;
  gpu_ids: number[];
  gpu_uuids: string[];
  status: string;
  reason: string;
  pid: number | null;
  started_at: string | null;
  restarts: number;
  health_check_failures: number;
  last_health_check: string | null;
  exit_code: number | null;
  model: { model_type: string; dimension: number | null; max_input_length: number; dtype: string; version: string } | null;
}

/**
 * An instance as the REST API shows it: tei-manager's InstanceInfo fields first (so existing
 * scripts find them where they expect), then the fleet's own (node, address, GPUs, replicas,
 * revision) and the full spec, which can be edited and sent back with PATCH.
 */
export interface InstanceView {
  name: string;
  model_id: string;
  port: number | null;
  status: InstanceStatus;
  reason: string;
  pid: number | null;
  created_at: string | null;
  uptime_secs: number | null;
  restarts: number;
  health_check_failures: number;
  last_health_check: string | null;
  gpu_id: number | null;
  prometheus_port: number | null;
  max_batch_tokens: number | null;
  max_concurrent_requests: number | null;
  pooling: string | null;
  extra_args: string[];
  desired_state: string;
  node: string | null;
  address: string | null;
  gpu_ids: number[];
  gpu_uuids: string[];
  healthy: boolean;
  revision: number;
  replicas: ReplicaView[];
  spec: Record<string, unknown>;
}

/** Renders one replica. */
export function replicaView(r: Replica): ReplicaView {
  return {
    assignment_id: r.assignmentId,
    index: r.index,
    revision: Number(r.revision),
    node: r.node,
    address: r.address,
    port: r.port,
    prometheus_port: r.prometheusPort,
    gpu_ids: [...r.gpuIds],
    gpu_uuids: [...r.gpuUuids],
    status: r.status,
    reason: r.reason,
    pid: r.pid ?? null,
    started_at: iso(r.startedAtMs),
    restarts: r.restarts,
    health_check_failures: r.healthCheckFailures,
    last_health_check: iso(r.lastHealthCheckMs),
    exit_code: r.exitCode ?? null,
    model: r.model
      ? {
          model_type: r.model.modelType,
          dimension: r.model.dimension ?? null,
          max_input_length: r.model.maxInputLength,
          dtype: r.model.modelDtype,
          version: r.model.version,
        }
      : null,
  };
}

/** Seconds since a replica started, or null when it is not running. */
export function uptimeSecs(r: Replica | undefined, now: number): number | null {
  if (r?.status !== "running" || r.startedAtMs === undefined) return null;
  return Math.max(0, Math.floor((now - Number(r.startedAtMs)) / 1000));
}

/**
 * Builds the REST view of an instance from its record and its replicas. An unreadable record
 * (status `unreadable`, reason naming the problem) has no spec to show: `spec` is empty and
 * `desired_state` is "unknown"; its replicas, still recorded, are shown as they are.
 */
export function instanceView(instance: Instance, replicas: readonly Replica[], now = Date.now()): InstanceView {
  const spec = instance.spec;
  const unreadable = isUnreadable(instance);
  const agg = aggregateStatus(instance, replicas);
  const primary = primaryReplica(replicas);
  const gpuIds = primary ? [...primary.gpuIds] : [];
  const lastCheck = replicas.reduce<bigint | undefined>(
    (max, r) => (r.lastHealthCheckMs !== undefined && (max === undefined || r.lastHealthCheckMs > max) ? r.lastHealthCheckMs : max),
    undefined,
  );
  return {
    name: spec?.name ?? "",
    model_id: spec?.modelId ?? "",
    port: primary?.port || spec?.port || null,
    status: agg.status,
    reason: agg.reason,
    pid: primary?.status === "running" ? (primary.pid ?? null) : null,
    created_at: iso(instance.createdAtMs),
    uptime_secs: uptimeSecs(primary, now),
    restarts: replicas.reduce((n, r) => n + r.restarts, 0),
    health_check_failures: replicas.reduce((n, r) => n + r.healthCheckFailures, 0),
    last_health_check: iso(lastCheck),
    // tei-manager's gpu_id is the one GPU the instance runs on: the pinned one, else the assigned one.
    gpu_id: spec?.gpuId ?? (gpuIds.length === 1 ? gpuIds[0]! : null),
    prometheus_port: primary?.prometheusPort || spec?.prometheusPort || null,
    max_batch_tokens: spec?.maxBatchTokens ?? null,
    max_concurrent_requests: spec?.maxConcurrentRequests ?? null,
    pooling: spec?.pooling ?? null,
    extra_args: [...(spec?.extraArgs ?? [])],
    desired_state: unreadable ? "unknown" : (spec?.desiredState ?? "running"),
    node: primary?.node || null,
    address: primary?.address || null,
    gpu_ids: gpuIds,
    gpu_uuids: primary ? [...primary.gpuUuids] : [],
    healthy: agg.healthy,
    revision: Number(instance.revision),
    replicas: replicas.map(replicaView),
    spec: spec && !unreadable ? specToJson(spec) : {},
  };
}
