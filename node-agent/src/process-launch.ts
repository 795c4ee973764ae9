import type { Assignment } from "@tei-fleet/proto/fleet/v1";
import type { Incarnation } from "./incarnation.ts";
import type { InstanceLog } from "./instance-log.ts";
import type { LaunchPlan } from "./launch-plan.ts";
import { type ProcessDriver, type ProcessHandle, ProcessStartError } from "./process-driver.ts";
import { checkPorts, orphanRecord } from "./process-recovery.ts";
import type { ProcessRecord } from "./process-state-file.ts";
import type { TeiClient } from "./tei-client.ts";

/**
 * Starting a new TEI process for an assignment (Nomad's StartTask): check that its ports are free,
 * spawn the planned command, and wrap the process as an {@link Incarnation}. What each outcome
 * means for the reported status, the restart count and the backoff is the supervisor's decision.
 */

/** Outcome of {@link launchIncarnation}. */
export type LaunchOutcome =
  | { kind: "started"; incarnation: Incarnation }
  /**
   * This instance's own TEI already listens on its port (the agent crashed right after starting it,
   * before saving its record): re-attach to `record` instead of starting another. `message` is the
   * failure to report if re-attaching does not work out.
   */
  | { kind: "orphan"; record: ProcessRecord; message: string }
  /** Nothing was started: a port is taken (naming its holder) or the binary cannot run. */
  | { kind: "failed"; message: string };

/** What {@link launchIncarnation} needs from the supervisor. */
export interface LaunchDeps {
  driver: ProcessDriver;
  /** The instance's log; the new process's output starts at its current end. */
  log: InstanceLog;
  /** The file TEI's stdout and stderr go to. */
  logFile: string;
  /** The address TEI listens on (the node's advertise address). */
  host: string;
  /** A TEI client for the new process's port. */
  client(port: number): TeiClient;
}

/**
 * Starts the process `plan` describes for `assignment`. Never throws for a reason the instance can
 * be blamed for (taken port, unusable binary): those come back as `failed` with a specific message.
 * `restarts` is carried into the record of an orphan found on the port.
 */
export async function launchIncarnation(assignment: Assignment, plan: LaunchPlan, restarts: number, deps: LaunchDeps): Promise<LaunchOutcome> {
  const ports = await checkPorts(deps.host, [assignment.port, assignment.prometheusPort], plan);
  if (ports.kind === "ours") {
    const record = await orphanRecord(ports.pid, assignment, plan, restarts);
    if (record) return { kind: "orphan", record, message: ports.message };
  }
  // Also an orphan that exited between the port check and reading its /proc entry: the port was busy.
  if (ports.kind !== "free") return { kind: "failed", message: ports.message };
  const logStart = await deps.log.endPosition();
  let handle: ProcessHandle;
  try {
    handle = await deps.driver.start({ command: plan.command, args: plan.args, env: plan.env, logFile: deps.logFile });
  } catch (error) {
    if (error instanceof ProcessStartError) return { kind: "failed", message: error.message };
    throw error;
  }
  return {
    kind: "started",
    incarnation: {
      handle,
      fingerprint: plan.fingerprint,
      port: assignment.port,
      prometheusPort: assignment.prometheusPort,
      gpuUuids: plan.gpuUuids,
      client: deps.client(assignment.port),
      logStart,
      adopted: false,
    },
  };
}
