import { AT_REST_PHASES, type InstanceStatus, isFailingStatus } from "@tei-fleet/core";
import type { Instance, Replica } from "@tei-fleet/proto/fleet/v1";
import { isUnreadable } from "../store/instance-record.ts";

/**
 * Instance statuses (`@tei-fleet/core`'s list). tei-manager's are starting, running, stopping,
 * stopped and failed; the fleet adds pending (not placed yet), unhealthy (running but failing
 * health checks) and crash_loop (restarting too often; backing off), and unreadable (its stored
 * record cannot be decoded; see store/instance-record.ts).
 */
export type { InstanceStatus };

/** The aggregate status of an instance and why it is not simply running. */
export interface AggregateStatus {
  status: InstanceStatus;
  reason: string;
  /** True when the instance serves traffic and nothing about it is failing. */
  healthy: boolean;
}

/**
 * Folds the replicas' observed statuses (reported by agents, recorded by the scheduler) into one
 * instance status, given the desired state from the spec:
 *
 * - a record that cannot be decoded: `unreadable`, whatever its replicas do (nothing is known of
 *   what it should do), never healthy;
 * - desired stopped: `stopped` once no replica is still active, `stopping` before;
 * - no replica recorded: `pending` ("waiting for placement");
 * - every replica running: `running`;
 * - otherwise the most telling replica status wins, in this order: crash_loop, failed, unhealthy,
 *   starting; then `pending` if nothing runs yet; else `running` with a reason saying how many
 *   replicas are ready (e.g. old replicas still stopping after a spec change).
 *
 * `healthy` is what `/health/all` counts: the instance serves (some replica running) and is not
 * failing. An instance whose new revision is still starting while the old one serves is healthy.
 */
export function aggregateStatus(instance: Instance, replicas: readonly Replica[]): AggregateStatus {
  if (isUnreadable(instance)) return { status: "unreadable", reason: instance.reason, healthy: false };
  const desired = instance.spec?.desiredState ?? "running";
  if (desired === "stopped") {
    // A replica that was never placed has nothing to stop.
    const active = replicas.filter((r) => !AT_REST_PHASES.has(r.status) && r.status !== "pending" && r.node !== "");
    return active.length === 0
      ? { status: "stopped", reason: "stopped by request", healthy: false }
      : { status: "stopping", reason: `${active.length} replica(s) still stopping`, healthy: false };
  }
  if (replicas.length === 0) return { status: "pending", reason: instance.reason || "waiting for placement", healthy: false };
  const running = replicas.filter((r) => r.status === "running");
  const want = instance.spec?.replicas ?? 1;
  if (running.length === replicas.length && running.length >= want) return { status: "running", reason: "", healthy: true };
  for (const status of ["crash_loop", "failed", "unhealthy", "starting"] as const) {
    const r = replicas.find((x) => x.status === status);
    if (r) {
      const reason = r.reason || `replica ${r.index} ${status.replace("_", " ")}`;
      return { status, reason, healthy: status === "starting" && running.length > 0 };
    }
  }
  const waiting = replicas.find((r) => r.status !== "running");
  if (running.length === 0) return { status: "pending", reason: waiting?.reason || "waiting for placement", healthy: false };
  const reason = `${running.length} of ${Math.max(want, replicas.length)} replicas running${waiting?.reason ? `: ${waiting.reason}` : ""}`;
  return { status: "running", reason, healthy: true };
}

/**
 * The replica that stands for the instance in tei-manager's single-process fields (pid, port,
 * uptime): the lowest-index running replica of the newest revision, else the newest replica.
 */
export function primaryReplica(replicas: readonly Replica[]): Replica | undefined {
  const ordered = [...replicas].sort((a, b) => Number(b.revision - a.revision) || a.index - b.index);
  return ordered.find((r) => r.status === "running") ?? ordered[0];
}

/**
 * Statuses in which the agent cannot keep the replica serving: `failed` (CPU fallback, missing
 * GPU, unusable binary, port taken) and `crash_loop` (TEI keeps exiting). The rule is core's.
 */
export const isFailing: (status: string) => boolean = isFailingStatus;
