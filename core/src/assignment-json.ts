/**
 * An Assignment of either release, read and written in one place. Assignments of the previous
 * release copied six spec fields one by one (fields 5 and 10-14 of agent_service.proto, deprecated
 * now, gone in the next release); this one carries the spec itself (field 17). For one release
 * the control plane writes both ({@link withLegacySpecFields}), and everything that reads an
 * assignment (the agent off the wire and from its desired-state file, the control plane from
 * Redis) takes its spec from {@link assignmentSpec}: the spec when present, else the one those
 * fields came from. So a rolling upgrade in either order launches the same TEI command line.
 * The list of copied fields is frozen: new spec settings only ever travel in `spec`.
 */
import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { type Assignment, AssignmentSchema, type InstanceSpec, InstanceSpecSchema } from "@tei-fleet/proto/fleet/v1";

/**
 * The spec an assignment runs: its `spec` when set, else the one the previous release's copied
 * fields describe (undefined when it has neither, i.e. no model).
 */
export function assignmentSpec(a: Assignment): InstanceSpec | undefined {
  if (a.spec !== undefined) return a.spec;
  // The one reader of the previous release's fields.
  if (a.modelId === "") return undefined;
  return create(InstanceSpecSchema, {
    name: a.instanceName,
    modelId: a.modelId,
    maxBatchTokens: a.maxBatchTokens,
    maxConcurrentRequests: a.maxConcurrentRequests,
    pooling: a.pooling,
    extraArgs: [...a.extraArgs],
    // The old field was not optional: 0 meant the agent's default.
    startupTimeoutSecs: a.startupTimeoutSecs || undefined,
  });
}

/** The assignment with its `spec` set from {@link assignmentSpec} (the same object, completed). */
export function withAssignmentSpec(a: Assignment): Assignment {
  a.spec = assignmentSpec(a);
  return a;
}

/**
 * The assignment with the previous release's copied spec fields written beside `spec`, so an
 * agent of that release can launch it (the same object, completed). Goes away with the fields.
 */
export function withLegacySpecFields(a: Assignment): Assignment {
  const spec = a.spec;
  if (spec === undefined) return a;
  a.modelId = spec.modelId;
  a.maxBatchTokens = spec.maxBatchTokens;
  a.maxConcurrentRequests = spec.maxConcurrentRequests;
  a.pooling = spec.pooling;
  a.extraArgs = [...spec.extraArgs];
  a.startupTimeoutSecs = spec.startupTimeoutSecs ?? 0;
  return a;
}

/**
 * Decodes a stored Assignment (proto JSON): the control plane keeps them in Redis, the agent in
 * its desired-state file, and both outlive an upgrade. Unknown fields are ignored (a newer
 * writer's); the spec is {@link assignmentSpec}'s, so a record from before the spec travelled
 * whole gets the spec its fields came from.
 */
export function parseAssignmentJson(json: string | JsonValue): Assignment {
  const value: JsonValue = typeof json === "string" ? (JSON.parse(json) as JsonValue) : json;
  return withAssignmentSpec(fromJson(AssignmentSchema, value, { ignoreUnknownFields: true }));
}
