import { randomBytes } from "node:crypto";
import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { type InstanceStatus, type ReplicaPhase, withLegacySpecFields } from "@tei-fleet/core";
import { type Assignment, AssignmentSchema, type InstanceSpec, type Replica, ReplicaSchema } from "@tei-fleet/proto/fleet/v1";
import type { NodeView } from "./node-view.ts";

/** A replica record as stored in `replicas:{name}`, with its exact JSON (the CAS witness). */
export interface StoredReplica {
  id: string;
  json: string;
  replica: Replica;
}

/** Parses every field of a `replicas:{name}` hash. */
export function parseReplicas(hash: Record<string, string>): StoredReplica[] {
  return Object.entries(hash).map(([id, json]) => ({
    id,
    json,
    replica: fromJsonString(ReplicaSchema, json, { ignoreUnknownFields: true }),
  }));
}

/**
 * The id of a new placement: `{name}-{index}-r{revision}`, or, when that id is in use (a
 * replacement started next to the original during a drain or a restart), the same with a short
 * random suffix `-m{hex}`. Ids never contain ':' (BullMQ job ids and Redis fields use them).
 */
export function newAssignmentId(name: string, index: number, revision: bigint, inUse: (id: string) => boolean): string {
  const plain = `${name}-${index}-r${revision}`;
  if (!inUse(plain)) return plain;
  return `${plain}-m${randomBytes(3).toString("hex")}`;
}

/** A placement decision turned into the assignment the node's agent runs. */
export interface PlacementFacts {
  id: string;
  index: number;
  revision: bigint;
  node: NodeView;
  gpuIds: number[];
  port: number;
  prometheusPort: number;
}

/**
 * The Assignment sent to the agent: the spec itself, and what was decided for this replica; for
 * one release also the spec fields agents of the previous release read (core's
 * withLegacySpecFields), so an agent not yet upgraded launches it the same way.
 */
export function buildAssignment(spec: InstanceSpec, p: PlacementFacts): Assignment {
  const assignment = create(AssignmentSchema, {
    assignmentId: p.id,
    instanceName: spec.name,
    replica: p.index,
    revision: p.revision,
    port: p.port,
    prometheusPort: p.prometheusPort,
    gpuIds: p.gpuIds,
    gpuUuids: p.gpuIds.map((i) => p.node.gpus.find((g) => g.index === i)?.uuid ?? ""),
    spec,
    desiredState: "running",
    epoch: BigInt(p.node.epoch),
  });
  return withLegacySpecFields(assignment);
}

/** The replica record of a fresh placement: where it runs, not yet started. */
export function buildPlacedReplica(p: PlacementFacts): Replica {
  return create(ReplicaSchema, {
    assignmentId: p.id,
    index: p.index,
    revision: p.revision,
    node: p.node.name,
    address: `${p.node.address}:${p.port}`,
    port: p.port,
    prometheusPort: p.prometheusPort,
    gpuIds: p.gpuIds,
    gpuUuids: p.gpuIds.map((i) => p.node.gpus.find((g) => g.index === i)?.uuid ?? ""),
    status: "starting" satisfies ReplicaPhase,
    reason: `assigned to node ${p.node.name}; waiting for its agent`,
  });
}

/** A replica that is not placed: pending with the reason, or stopped on request. */
export function buildUnplacedReplica(
  id: string,
  index: number,
  revision: bigint,
  status: Extract<InstanceStatus, "pending" | "stopped">,
  reason: string,
): Replica {
  return create(ReplicaSchema, { assignmentId: id, index, revision, status, reason });
}

/** Serialises a replica record (proto JSON, the contract with the API's readers). */
export function replicaJson(replica: Replica): string {
  return toJsonString(ReplicaSchema, replica);
}

/** Serialises an assignment (proto JSON, read back by the agent protocol). */
export function assignmentJson(assignment: Assignment): string {
  return toJsonString(AssignmentSchema, assignment);
}
