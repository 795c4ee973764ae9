/**
 * The control plane's side of the instance spec: @tei-fleet/core holds the schema, its proto
 * conversions and the rules (core/src/spec/); this file turns core's verdicts into the API's
 * error type, so REST and Connect refuse a spec with the same code, message and field.
 */
import {
  instanceNameSpecProblem,
  parseInstanceSpec,
  parseProtoSpec,
  parseProtoSpecUpdate,
  parseSpecUpdate,
  type SpecProblem,
  type SpecResult,
  specConsistencyProblem,
  specProblemFromZod,
  type UpdateInstanceInput,
} from "@tei-fleet/core/spec";
import type { InstanceSpec } from "@tei-fleet/proto/fleet/v1";
import type { z } from "zod";
import { ApiError } from "../errors/api-error.ts";

export {
  applySpecFields,
  CreateInstanceBody,
  type CreateInstanceInput,
  specToJson,
  UpdateInstanceBody,
  type UpdateInstanceInput,
} from "@tei-fleet/core/spec";

/** Throws a spec problem as a 400 (or the catalogue's status for its code). */
export function throwSpecProblem(problem: SpecProblem): never {
  throw new ApiError(problem.code, problem.message, problem.field === undefined ? undefined : { field: problem.field });
}

function accepted<T>(result: SpecResult<T>): T {
  if (!result.ok) throwSpecProblem(result.problem);
  return result.value;
}

/** Throws a 400 naming the field at fault, from the first issue zod found. */
export function throwValidationError(error: z.ZodError, what: string): never {
  throwSpecProblem(specProblemFromZod(error, what));
}

/** Checks an instance name (the rule is @tei-fleet/core's); throws a 400 INVALID_INSTANCE_NAME naming `name`. */
export function validateInstanceName(name: string): void {
  const problem = instanceNameSpecProblem(name);
  if (problem !== undefined) throwSpecProblem(problem);
}

/** Cross-field checks shared by create and update, on the merged spec. */
export function checkSpecConsistency(spec: InstanceSpec): void {
  const problem = specConsistencyProblem(spec);
  if (problem !== undefined) throwSpecProblem(problem);
}

/** Validates a create body (REST JSON) and returns the proto spec. */
export function parseCreateBody(body: unknown): InstanceSpec {
  return accepted(parseInstanceSpec(body));
}

/** Validates an update body (REST JSON); returns the fields to apply. */
export function parseUpdateBody(body: unknown, name: string): UpdateInstanceInput {
  return accepted(parseSpecUpdate(body, name));
}

/** Validates a whole spec sent over Connect with the rules of {@link parseCreateBody}. */
export function parseCreateSpec(spec: InstanceSpec): InstanceSpec {
  return accepted(parseProtoSpec(spec));
}

/** Validates a change sent over Connect with the rules of {@link parseUpdateBody}. */
export function parseUpdateSpec(spec: InstanceSpec, name: string): UpdateInstanceInput {
  return accepted(parseProtoSpecUpdate(spec, name));
}
