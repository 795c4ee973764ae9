import { create, toJsonString } from "@bufbuild/protobuf";
import { type ReplicaPhase, replicaPhaseFields } from "@tei-fleet/core";
import { type Assignment, InstanceSpecSchema, type ReplicaStatus, ReplicaStatusSchema } from "@tei-fleet/proto/fleet/v1";
import type { InfoResponse } from "@tei-fleet/proto/tei/v1";
import type { LogLine } from "./log-ring.ts";
import type { ProcessExit, ProcessHandle } from "./process-driver.ts";
import type { TeiModelKind } from "./tei-client.ts";

/**
 * How a supervisor describes what it observes: the ReplicaStatus message heartbeats carry, exit
 * reasons in words, and the log line that gives away a silent CPU fallback.
 */

/** The observed facts of one replica. */
export interface ReplicaFacts {
  assignmentId: string;
  /** The supervisor's phase, reported as `ReplicaStatus.status` (proto's enum, mapped by core) and `legacy_status`. */
  status: ReplicaPhase;
  reason: string;
  handle?: ProcessHandle;
  restarts: number;
  healthFailures: number;
  lastHealthCheckMs?: number;
  /** Set only when TEI ended on its own (not when the agent stopped it). */
  lastExit?: ProcessExit;
  /** Last log lines, carried with failure statuses. */
  failureLines: string[];
  kind?: TeiModelKind;
  dimension?: number;
  info?: InfoResponse;
}

/** Builds the ReplicaStatus message for heartbeats. */
export function replicaStatus(f: ReplicaFacts): ReplicaStatus {
  return create(ReplicaStatusSchema, {
    assignmentId: f.assignmentId,
    // The enum, and for one release the word beside it, which control planes of the previous
    // release read (agent_service.proto's legacy_status).
    ...replicaPhaseFields(f.status),
    reason: f.reason,
    pid: f.handle?.pid,
    startedAtMs: f.handle ? BigInt(f.handle.startedAtMs) : undefined,
    restarts: f.restarts,
    healthCheckFailures: f.healthFailures,
    lastHealthCheckMs: f.lastHealthCheckMs === undefined ? undefined : BigInt(f.lastHealthCheckMs),
    exitCode: f.lastExit?.exitCode,
    exitSignal: f.lastExit?.signal,
    lastLogLines: f.failureLines,
    modelType: f.kind ?? "",
    dimension: f.dimension,
    maxInputLength: f.info?.maxInputLength ?? 0,
    modelDtype: f.info?.modelDtype ?? "",
    teiVersion: f.info?.version ?? "",
  });
}

/** "exited with code 1", "was killed by SIGKILL", or "exited (status unknown ...)". */
export function describeExit(exit: ProcessExit): string {
  if (exit.signal) return `was killed by ${exit.signal}`;
  if (exit.exitCode !== undefined) return `exited with code ${exit.exitCode}`;
  return "exited (status unknown: the process was re-attached after an agent restart)";
}

/**
 * TEI's sign of a silent CPU fallback (tei.md §5.1): `Starting <Arch> model on Cpu`, or the
 * warning `Using CPU instead` when CUDA cannot be initialised.
 */
export function isCpuFallbackLine(line: Pick<LogLine, "raw" | "message">): boolean {
  const text = line.message ?? line.raw;
  return /\bon Cpu\b/.test(text) || /Using CPU instead/i.test(text);
}

/** Identifies what an assignment asks for; a change clears the replica's failure history. */
export function specKey(a: Assignment): string {
  return JSON.stringify([
    a.revision.toString(),
    // The whole spec, not a list of its fields: a new setting is part of the key without an edit.
    a.spec === undefined ? null : toJsonString(InstanceSpecSchema, a.spec),
    a.port,
    a.prometheusPort,
    a.gpuIds,
    a.gpuUuids,
    a.desiredState,
  ]);
}
