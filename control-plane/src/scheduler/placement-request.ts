import type { InstanceSpec } from "@tei-fleet/proto/fleet/v1";
import { defaultModelMemoryMb } from "./model-memory.ts";
import type { ReplicaRequest } from "./placement.ts";

/** Replicas when the spec does not say. */
export const DEFAULT_REPLICAS = 1;
/** GPUs per replica when the spec does not say. */
export const DEFAULT_GPU_COUNT = 1;

/** The number of replicas a spec asks for. */
export function replicaCount(spec: InstanceSpec): number {
  return spec.replicas ?? DEFAULT_REPLICAS;
}

/** True unless the spec asks for the instance to be stopped. */
export function wantsRunning(spec: Pick<InstanceSpec, "desiredState">): boolean {
  return (spec.desiredState ?? "running") !== "stopped";
}

/**
 * GPU memory claimed on each GPU of a replica, in MiB: the spec's `gpu_memory_mb`, or the
 * model-size default. With `gpu_count` > 1 every GPU gets the full amount: TEI loads the whole
 * model on each device it uses, so splitting the figure would over-commit.
 */
export function memoryPerGpuMb(spec: InstanceSpec): number {
  if (spec.gpuMemoryMb !== undefined) return Number(spec.gpuMemoryMb);
  return defaultModelMemoryMb(spec.modelId);
}

/** What replica `index` of this spec needs, for place(). */
export function replicaRequest(spec: InstanceSpec, index: number, peers: ReplicaRequest["peers"] = [], avoidNodes?: ReadonlySet<string>): ReplicaRequest {
  const gpuCount = spec.gpuId !== undefined ? 1 : (spec.gpuCount ?? DEFAULT_GPU_COUNT);
  return {
    instance: spec.name,
    index,
    gpuCount,
    memoryMb: gpuCount === 0 ? 0 : memoryPerGpuMb(spec),
    node: spec.node || undefined,
    gpuId: spec.gpuId,
    selector: spec.nodeSelector ?? {},
    policy: spec.placementPolicy === "spread" ? "spread" : "binpack",
    port: spec.port,
    prometheusPort: spec.prometheusPort,
    peers,
    avoidNodes,
  };
}
