import type { InstanceSpec } from "@tei-fleet/proto/fleet/v1";
import type { SchedulerContext } from "../store/scheduler-context.ts";

/** Most GPUs one replica may ask for: no GPU host has more than 16. */
export const MAX_GPU_COUNT = 16;
/** Most replicas of one instance. */
export const MAX_REPLICAS = 1000;
/** Ports TEI may be given (unprivileged, valid). */
export const PORT_RANGE = { min: 1024, max: 65535 } as const;

/** The verdict on a spec: only what can never work is refused. */
export type SpecCheck = { ok: true } | { ok: false; reason: string; field: string };

const refuse = (field: string, reason: string): SpecCheck => ({ ok: false, field, reason });

/**
 * Refuses specs that can never be placed, whatever joins the fleet later: absurd GPU counts, a
 * gpu_id on a pinned node that does not have it, a port outside 1024-65535, a fixed port already
 * claimed on the pinned node by another instance, several replicas with one fixed port on one
 * pinned node. Anything that might become possible (an unknown pinned node, a selector nothing
 * matches yet, more memory than is free) is accepted and stays pending with a reason.
 */
export async function checkSpec(ctx: SchedulerContext, spec: InstanceSpec): Promise<SpecCheck> {
  const gpuCount = spec.gpuCount;
  if (gpuCount !== undefined && (!Number.isInteger(gpuCount) || gpuCount < 0 || gpuCount > MAX_GPU_COUNT)) {
    return refuse("gpu_count", `gpu_count must be between 0 and ${MAX_GPU_COUNT}, got ${gpuCount}`);
  }
  const replicas = spec.replicas;
  if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 0 || replicas > MAX_REPLICAS)) {
    return refuse("replicas", `replicas must be between 0 and ${MAX_REPLICAS}, got ${replicas}`);
  }
  if (spec.gpuId !== undefined && gpuCount !== undefined && gpuCount !== 1) {
    return refuse("gpu_id", `gpu_id pins exactly one GPU, but gpu_count is ${gpuCount}`);
  }
  if (spec.gpuMemoryMb !== undefined && spec.gpuMemoryMb <= 0n) {
    return refuse("gpu_memory_mb", "gpu_memory_mb must be positive");
  }
  for (const field of ["port", "prometheus_port"] as const) {
    const value = field === "port" ? spec.port : spec.prometheusPort;
    if (value !== undefined && (value < PORT_RANGE.min || value > PORT_RANGE.max)) {
      return refuse(field, `${field} must be between ${PORT_RANGE.min} and ${PORT_RANGE.max}, got ${value}`);
    }
  }
  if (spec.port !== undefined && spec.port === spec.prometheusPort) {
    return refuse("prometheus_port", "prometheus_port must differ from port");
  }
  if (spec.placementPolicy !== undefined && spec.placementPolicy !== "binpack" && spec.placementPolicy !== "spread") {
    return refuse("placement_policy", `placement_policy must be "binpack" or "spread", got "${spec.placementPolicy}"`);
  }
  if (spec.desiredState !== undefined && spec.desiredState !== "running" && spec.desiredState !== "stopped") {
    return refuse("desired_state", `desired_state must be "running" or "stopped", got "${spec.desiredState}"`);
  }
  if (!spec.node) return { ok: true };

  // Pinned node: what it has is known, and some conflicts are therefore permanent.
  const hasFixedPort = spec.port !== undefined || spec.prometheusPort !== undefined;
  if (hasFixedPort && (replicas ?? 1) > 1) {
    return refuse(
      spec.port !== undefined ? "port" : "prometheus_port",
      `${replicas} replicas pinned to node ${spec.node} cannot share one fixed port; leave the port out`,
    );
  }
  const [nodeJson, claims] = await Promise.all([ctx.redis.get(ctx.keys.node(spec.node)), ctx.redis.hgetall(ctx.keys.nodeClaims(spec.node))]);
  if (!nodeJson) return { ok: true }; // might register later
  const node = JSON.parse(nodeJson) as { gpus?: Array<{ index?: number }> };
  const indexes = (node.gpus ?? []).map((g) => g.index ?? 0);
  if (spec.gpuId !== undefined && !indexes.includes(spec.gpuId)) {
    return refuse("gpu_id", `node ${spec.node} has no GPU ${spec.gpuId} (it has ${indexes.length > 0 ? indexes.join(", ") : "none"})`);
  }
  if ((gpuCount ?? 1) > indexes.length) {
    return refuse("gpu_count", `node ${spec.node} has ${indexes.length} GPU(s), gpu_count is ${gpuCount}`);
  }
  const own = new RegExp(`^${spec.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-\\d+-r\\d+`);
  for (const [field, value] of [
    ["port", spec.port],
    ["prometheus_port", spec.prometheusPort],
  ] as const) {
    if (value === undefined) continue;
    const owner = claims[`port:${value}`];
    if (owner && !own.test(owner)) return refuse(field, `${field} ${value} is already claimed on node ${spec.node} by ${owner}`);
  }
  return { ok: true };
}
