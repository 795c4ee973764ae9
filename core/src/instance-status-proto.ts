/**
 * Statuses between their two typed forms, in one place: the words of instance-status.ts (what
 * REST's JSON, metrics and logs show, tei-manager compatible) and proto's `InstanceStatus` enum
 * (what Connect's Instance.status and the agents' ReplicaStatus.status carry). The tables are
 * `Record`s over the union, so a status added to one side and not the other does not compile.
 */
import { type Instance, InstanceStatus as InstanceStatusProto, type ReplicaStatus } from "@tei-fleet/proto/fleet/v1";
import { type InstanceStatus, REPLICA_PHASES, type ReplicaPhase } from "./instance-status.ts";

const TO_PROTO: Readonly<Record<InstanceStatus, InstanceStatusProto>> = {
  pending: InstanceStatusProto.PENDING,
  starting: InstanceStatusProto.STARTING,
  running: InstanceStatusProto.RUNNING,
  unhealthy: InstanceStatusProto.UNHEALTHY,
  stopping: InstanceStatusProto.STOPPING,
  stopped: InstanceStatusProto.STOPPED,
  failed: InstanceStatusProto.FAILED,
  crash_loop: InstanceStatusProto.CRASH_LOOP,
  unreadable: InstanceStatusProto.UNREADABLE,
};

const FROM_PROTO: ReadonlyMap<InstanceStatusProto, InstanceStatus> = new Map(Object.entries(TO_PROTO).map(([word, value]) => [value, word as InstanceStatus]));

/** The proto enum value of a status. */
export function instanceStatusToProto(status: InstanceStatus): InstanceStatusProto {
  return TO_PROTO[status];
}

/** The status of a proto enum value; undefined for UNSPECIFIED (a peer that set none) or one unknown here. */
export function instanceStatusFromProto(value: InstanceStatusProto): InstanceStatus | undefined {
  return FROM_PROTO.get(value);
}

/** The proto enum value of a replica phase (what agents report). */
export function replicaPhaseToProto(phase: ReplicaPhase): InstanceStatusProto {
  return TO_PROTO[phase];
}

/** The replica phase of a proto enum value; undefined when it is none (UNSPECIFIED, pending, unreadable). */
export function replicaPhaseFromProto(value: InstanceStatusProto): ReplicaPhase | undefined {
  const status = FROM_PROTO.get(value);
  return status !== undefined && isReplicaPhase(status) ? status : undefined;
}

/** True for the statuses an agent can report. */
export function isReplicaPhase(status: string): status is ReplicaPhase {
  return (REPLICA_PHASES as readonly string[]).includes(status);
}

/**
 * The phase a ReplicaStatus reports: its enum `status` when set to a phase known here, else the
 * word `legacy_status` that agents of the previous release send alone (undefined when neither
 * names a phase). The control plane reads reports with this and nothing else; the fallback goes
 * away with the legacy field in the next release.
 */
export function reportedPhase(report: Pick<ReplicaStatus, "status" | "legacyStatus">): ReplicaPhase | undefined {
  const phase = replicaPhaseFromProto(report.status);
  if (phase !== undefined) return phase;
  return isReplicaPhase(report.legacyStatus) ? report.legacyStatus : undefined;
}

/**
 * A replica phase as a ReplicaStatus carries it for one release: the enum, and the word beside it
 * for control planes of the previous release (which read only the word).
 */
export function replicaPhaseFields(phase: ReplicaPhase): Pick<ReplicaStatus, "status" | "legacyStatus"> {
  return { status: replicaPhaseToProto(phase), legacyStatus: phase };
}

/**
 * An instance status as Connect's Instance carries it for one release: the enum, and the word
 * beside it for clients of the previous release (which read only the word).
 */
export function instanceStatusFields(status: InstanceStatus): Pick<Instance, "status" | "legacyStatus"> {
  return { status: instanceStatusToProto(status), legacyStatus: status };
}
