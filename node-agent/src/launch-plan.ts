import { assignmentSpec } from "@tei-fleet/core";
import type { Assignment } from "@tei-fleet/proto/fleet/v1";
import type { GpuInfo } from "./gpu-inventory.ts";
import { commandFingerprint } from "./process-state-file.ts";
import { buildTeiArgs, TeiCommandError } from "./tei-command.ts";
import { buildTeiEnv } from "./tei-env.ts";

/**
 * Turns an assignment into exactly what to run: binary, argv, environment and GPUs. Everything that
 * can be wrong with an assignment on this node (bad extra_args, a GPU that does not exist here) is
 * found here, before anything is started, and reported with a specific reason.
 */

/** The node facts a plan depends on. */
export interface LaunchContext {
  teiBinary: string;
  advertiseAddress: string;
  passEnv: readonly string[];
  parentEnv: Readonly<Record<string, string | undefined>>;
  gpus: readonly GpuInfo[];
}

/** What to run for one assignment. */
export interface LaunchPlan {
  command: string;
  args: string[];
  env: Record<string, string>;
  gpuUuids: string[];
  /** Identifies argv + env; a running process with another fingerprint must be replaced. */
  fingerprint: string;
}

/** An assignment this node cannot run as given; `code` is short and machine-readable. */
export class LaunchPlanError extends Error {
  readonly code: "invalid_args" | "unknown_gpu";
  constructor(code: LaunchPlanError["code"], message: string) {
    super(message);
    this.name = "LaunchPlanError";
    this.code = code;
  }
}

/**
 * Resolves the assignment's GPUs against this node's inventory: by UUID when given (the UUID is
 * what CUDA_VISIBLE_DEVICES receives), else by index.
 */
export function resolveGpuUuids(assignment: Assignment, gpus: readonly GpuInfo[]): string[] {
  const known = gpus.map((g) => `${g.index}=${g.uuid}`).join(", ") || "none";
  if (assignment.gpuUuids.length > 0) {
    for (const uuid of assignment.gpuUuids) {
      if (!gpus.some((g) => g.uuid === uuid)) {
        throw new LaunchPlanError("unknown_gpu", `GPU ${uuid} does not exist on this node (GPUs: ${known})`);
      }
    }
    return [...assignment.gpuUuids];
  }
  return assignment.gpuIds.map((index) => {
    const gpu = gpus.find((g) => g.index === index);
    if (!gpu) throw new LaunchPlanError("unknown_gpu", `GPU index ${index} does not exist on this node (GPUs: ${known})`);
    return gpu.uuid;
  });
}

/** Builds the {@link LaunchPlan}; throws {@link LaunchPlanError}. */
export function planLaunch(assignment: Assignment, ctx: LaunchContext): LaunchPlan {
  const gpuUuids = resolveGpuUuids(assignment, ctx.gpus);
  let args: string[];
  try {
    // The spec travels whole: a setting added to it reaches TEI without a line here. Core's
    // reader falls back to the fields a control plane of the previous release copies instead.
    const spec = assignmentSpec(assignment);
    if (spec === undefined) throw new LaunchPlanError("invalid_args", "the assignment carries no spec and no model_id");
    args = buildTeiArgs(spec, { port: assignment.port, prometheusPort: assignment.prometheusPort, hostname: ctx.advertiseAddress });
  } catch (error) {
    if (error instanceof TeiCommandError) throw new LaunchPlanError("invalid_args", error.message);
    throw error;
  }
  const env = buildTeiEnv({ parentEnv: ctx.parentEnv, passEnv: ctx.passEnv, gpuUuids });
  return { command: ctx.teiBinary, args, env, gpuUuids, fingerprint: commandFingerprint(ctx.teiBinary, args, env) };
}
