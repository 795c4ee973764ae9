/**
 * Whether a spec may be written: the schema's per-field rules (instance-spec.ts), the instance
 * name rule, and the rules across fields (extra_args against the managed flags, ports, GPUs).
 * REST bodies, Connect's InstanceSpec messages and `teictl`'s fleet files all pass here, and the
 * node agent applies the extra_args rule again before it starts TEI, so what is accepted runs.
 */
import { create } from "@bufbuild/protobuf";
import { type InstanceSpec, InstanceSpecSchema } from "@tei-fleet/proto/fleet/v1";
import { findExtraArgsProblem } from "../extra-args.ts";
import { instanceNameProblem } from "../names.ts";
import { CreateInstanceBody, UpdateInstanceBody, type UpdateInstanceInput } from "./instance-spec.ts";
import { type SpecProblem, type SpecResult, specProblemFromZod } from "./spec-problem.ts";
import { applySpecFields, specInputFromProto } from "./spec-proto.ts";

/** The problem with an instance name (the rule is names.ts'), naming the field `name`. */
export function instanceNameSpecProblem(name: string): SpecProblem | undefined {
  const problem = instanceNameProblem(name);
  return problem === undefined ? undefined : { code: "INVALID_INSTANCE_NAME", message: problem, field: "name" };
}

/** The first cross-field problem of a whole (created or merged) spec, or undefined. */
export function specConsistencyProblem(spec: InstanceSpec): SpecProblem | undefined {
  // The agent applies the same rule before it starts TEI: what is accepted here, it runs.
  const problem = findExtraArgsProblem(spec.extraArgs);
  if (problem) {
    const reserved = problem.kind === "managed" || problem.kind === "exits";
    // An item that is wrong in itself is named as zod names items (`extra_args.1`); a flag is
    // wrong only in this list, for this fleet, so the list is named.
    const itemAtFault = problem.kind === "control-character" || problem.kind === "not-one-argument";
    return {
      code: reserved ? "MANAGED_FLAG" : "VALIDATION_ERROR",
      message: problem.message,
      field: itemAtFault ? `extra_args.${problem.index}` : "extra_args",
    };
  }
  if (spec.port !== undefined && spec.port === spec.prometheusPort) {
    return { code: "PORT_CONFLICT", message: `prometheus_port ${spec.port} must differ from port`, field: "prometheus_port" };
  }
  if (spec.gpuId !== undefined && spec.gpuCount !== undefined && spec.gpuCount !== 1) {
    return { code: "INVALID_GPU_ID", message: `gpu_id pins one GPU, but gpu_count is ${spec.gpuCount}`, field: "gpu_id" };
  }
  return undefined;
}

/**
 * Validates a whole spec in REST shape (a `POST /instances` body, one spec of a fleet file) and
 * returns it as proto's InstanceSpec, with `desired_state` defaulting to running.
 */
export function parseInstanceSpec(body: unknown): SpecResult<InstanceSpec> {
  const parsed = CreateInstanceBody.safeParse(body, { reportInput: true });
  if (!parsed.success) return { ok: false, problem: specProblemFromZod(parsed.error, "the instance spec") };
  const nameProblem = instanceNameSpecProblem(parsed.data.name);
  if (nameProblem) return { ok: false, problem: nameProblem };
  const spec = applySpecFields(create(InstanceSpecSchema, { name: parsed.data.name }), parsed.data);
  spec.desiredState ??= "running";
  const problem = specConsistencyProblem(spec);
  return problem ? { ok: false, problem } : { ok: true, value: spec };
}

/**
 * Validates a change to the spec of instance `name` (a `PATCH` body); returns the fields to
 * apply with {@link applySpecFields}, after which {@link specConsistencyProblem} checks the
 * merged spec.
 */
export function parseSpecUpdate(body: unknown, name: string): SpecResult<UpdateInstanceInput> {
  const parsed = UpdateInstanceBody.safeParse(body, { reportInput: true });
  if (!parsed.success) return { ok: false, problem: specProblemFromZod(parsed.error, "the update") };
  if (parsed.data.name !== undefined && parsed.data.name !== name) {
    const message = `an instance cannot be renamed (name '${parsed.data.name}' differs from '${name}')`;
    return { ok: false, problem: { code: "VALIDATION_ERROR", message, field: "name" } };
  }
  return { ok: true, value: parsed.data };
}

/**
 * Validates a whole spec sent as proto's InstanceSpec (Connect's CreateInstance, Plan) with the
 * rules of {@link parseInstanceSpec}: same verdicts, same field names as over REST.
 */
export function parseProtoSpec(spec: InstanceSpec): SpecResult<InstanceSpec> {
  return parseInstanceSpec(specInputFromProto(spec));
}

/**
 * Validates a change sent as proto's InstanceSpec (Connect's UpdateInstance) with the rules of
 * {@link parseSpecUpdate}; unset fields (and, proto3 being unable to tell them apart, empty
 * strings, lists and maps) keep their value.
 */
export function parseProtoSpecUpdate(spec: InstanceSpec, name: string): SpecResult<UpdateInstanceInput> {
  return parseSpecUpdate(specInputFromProto(spec), name);
}
