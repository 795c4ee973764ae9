/**
 * Reading a stored Assignment (proto JSON): the control plane keeps them in Redis, the agent in
 * its desired-state file, and both outlive an upgrade. Assignments written before they carried
 * the spec (fields 5 and 10-14 of agent_service.proto, now reserved) copied six spec fields one by
 * one; such a record is read into the `spec` those fields came from, so an upgraded agent keeps
 * running what it was told to. That list is frozen: new spec fields only ever travel in `spec`.
 */
import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { type Assignment, AssignmentSchema, InstanceSpecSchema } from "@tei-fleet/proto/fleet/v1";

/** The spec fields an assignment written before field 17 (`spec`) carried, as proto JSON names them. */
interface LegacySpecFields {
  modelId?: string;
  maxBatchTokens?: number;
  maxConcurrentRequests?: number;
  pooling?: string;
  extraArgs?: string[];
  startupTimeoutSecs?: number;
}

/**
 * Decodes a stored Assignment; unknown fields are ignored (a newer writer's), and a record from
 * before the spec travelled whole gets its spec from the fields it had.
 */
export function parseAssignmentJson(json: string | JsonValue): Assignment {
  const value: JsonValue = typeof json === "string" ? (JSON.parse(json) as JsonValue) : json;
  const assignment = fromJson(AssignmentSchema, value, { ignoreUnknownFields: true });
  if (assignment.spec === undefined && value !== null && typeof value === "object" && !Array.isArray(value)) {
    const legacy = value as LegacySpecFields;
    if (typeof legacy.modelId === "string") {
      assignment.spec = create(InstanceSpecSchema, {
        name: assignment.instanceName,
        modelId: legacy.modelId,
        maxBatchTokens: legacy.maxBatchTokens,
        maxConcurrentRequests: legacy.maxConcurrentRequests,
        pooling: legacy.pooling,
        extraArgs: legacy.extraArgs ?? [],
        // The old field was not optional: 0 meant the agent's default.
        startupTimeoutSecs: legacy.startupTimeoutSecs || undefined,
      });
    }
  }
  return assignment;
}
