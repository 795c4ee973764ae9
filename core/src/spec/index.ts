/**
 * The instance spec (`@tei-fleet/core/spec`): its schema in REST's shape (tei-manager compatible
 * field names), its conversions to and from proto's InstanceSpec, and the rules a spec must pass
 * before it is written. The control plane validates REST bodies and Connect messages with it;
 * `teictl` validates fleet files with it. Verdicts are {@link SpecProblem}s, which each caller
 * turns into its own error type.
 */
export { CreateInstanceBody, type CreateInstanceInput, UpdateInstanceBody, type UpdateInstanceInput } from "./instance-spec.ts";
export { type SpecProblem, type SpecProblemCode, type SpecResult, specProblemFromZod } from "./spec-problem.ts";
export { applySpecFields, specInputFromProto, specToJson } from "./spec-proto.ts";
export {
  instanceNameSpecProblem,
  parseInstanceSpec,
  parseProtoSpec,
  parseProtoSpecUpdate,
  parseSpecUpdate,
  specConsistencyProblem,
} from "./spec-validation.ts";
