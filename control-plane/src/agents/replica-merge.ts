import { create } from "@bufbuild/protobuf";
import { reportedPhase, statusOf } from "@tei-fleet/core";
import { ModelFactsSchema, type Replica, ReplicaSchema, type ReplicaStatus } from "@tei-fleet/proto/fleet/v1";
import type { EventKind } from "../store/event-log.ts";

/** The reason of a replica the scheduler retires (replaced or moved); agents' reports never override it. */
export const RETIRE_REASON = "replaced; stopping once routers dropped it";

/**
 * Merges what an agent observes of a replica into the control plane's record. Placement fields
 * (node, GPUs, ports, revision) are the scheduler's and never change here; status fields are the
 * agent's. A replica the scheduler is retiring stays "stopping" whatever the agent says, so a
 * late "running" can never put it back into the route table. A report without a phase this
 * control plane knows (neither in the enum nor in the legacy word) keeps the recorded status.
 */
export function mergeReplicaStatus(record: Replica, report: ReplicaStatus): Replica {
  const retiring = statusOf(record) === "stopping" && record.reason === RETIRE_REASON;
  // The enum when set, else the word an agent of the previous release sends (core's one fallback).
  const phase = reportedPhase(report);
  const keep = retiring || phase === undefined;
  return create(ReplicaSchema, {
    ...record,
    status: keep ? record.status : phase,
    reason: keep ? record.reason : report.reason,
    pid: report.pid,
    startedAtMs: report.startedAtMs,
    restarts: report.restarts,
    healthCheckFailures: report.healthCheckFailures,
    lastHealthCheckMs: report.lastHealthCheckMs,
    exitCode: report.exitCode,
    exitSignal: report.exitSignal,
    lastLogLines: report.lastLogLines,
    model:
      report.modelType || report.dimension !== undefined || report.teiVersion
        ? create(ModelFactsSchema, {
            modelType: report.modelType,
            dimension: report.dimension,
            maxInputLength: report.maxInputLength,
            modelDtype: report.modelDtype,
            version: report.teiVersion,
          })
        : record.model,
  });
}

/** The event a status transition deserves, if any. */
export function transitionEvent(before: Replica, after: Replica): EventKind | undefined {
  if (before.status === after.status) return after.restarts > before.restarts ? "instance.restarted" : undefined;
  switch (statusOf(after)) {
    case "starting":
      return before.restarts < after.restarts ? "instance.restarted" : "instance.started";
    case "running":
      return "instance.ready";
    case "unhealthy":
      return "instance.unhealthy";
    case "failed":
      return "instance.failed";
    case "crash_loop":
      return "instance.crash_loop";
    case "stopped":
      return "instance.stopped";
    default:
      return undefined;
  }
}

/** A fingerprint of a report without its probe timestamp, to skip unchanged heartbeats cheaply. */
export function reportFingerprint(report: ReplicaStatus): string {
  return [
    reportedPhase(report) ?? "",
    report.reason,
    report.pid ?? "",
    String(report.startedAtMs ?? ""),
    report.restarts,
    report.healthCheckFailures,
    report.exitCode ?? "",
    report.exitSignal ?? "",
    report.lastLogLines.length,
    report.lastLogLines.at(-1) ?? "",
    report.modelType,
    report.dimension ?? "",
    report.maxInputLength,
    report.modelDtype,
    report.teiVersion,
  ].join("\u0000");
}
