import { join } from "node:path";
import { withAssignmentSpec } from "@tei-fleet/core";
import type { Assignment, ReplicaStatus } from "@tei-fleet/proto/fleet/v1";
import type { Logger } from "pino";
import { withTimeout } from "./async-utils.ts";
import { handleOf } from "./incarnation.ts";
import { createInstanceLog, type InstanceLogOptions } from "./instance-log.ts";
import { createInstanceSupervisor, type InstanceSupervisor, type SupervisorDeps } from "./instance-supervisor.ts";
import type { ProcessDriver } from "./process-driver.ts";
import { instanceDir, type ProcessRecord, type ProcessStateStore } from "./process-state-file.ts";

/**
 * The node's sync loop (the kubelet's): given the full list of desired assignments, it keeps one
 * supervisor per assignment, updates changed ones, and stops those that disappeared. Applying the
 * same list twice changes nothing, so heartbeats and the watch stream may both deliver it.
 */

/** Options of {@link createAssignmentReconciler}. */
export interface ReconcilerOptions {
  stateDir: string;
  driver: ProcessDriver;
  processStore: ProcessStateStore;
  logger: Logger;
  /** Everything a supervisor needs except its log (created here, one per assignment). */
  supervisorDeps: Omit<SupervisorDeps, "log" | "logFile">;
  /** Log file options (ring size, rotation). */
  logOptions?: Omit<InstanceLogOptions, "file">;
}

/** The node's set of supervisors. */
export interface AssignmentReconciler {
  /**
   * Re-attaches to processes an earlier agent left running, for the assignments in `desired`
   * (the last desired state on disk). Recorded processes that are no longer desired are stopped.
   * Resolves once every re-attached process has had a first readiness check (bounded by `waitMs`).
   */
  recover(desired: readonly Assignment[], waitMs?: number): Promise<void>;
  /** Converges on `assignments`, the node's full desired list. Calls are serialised. */
  apply(assignments: readonly Assignment[]): Promise<void>;
  /** Status of every supervised assignment. */
  statuses(): ReplicaStatus[];
  /** Supervisors, for the HTTP API and metrics. */
  supervisors(): InstanceSupervisor[];
  /** Reports every replica `stopping` (so routers drop them) without stopping anything yet. */
  markAllStopping(reason: string): void;
  /** Stops every supervisor: `stop` also stops the processes, `detach` leaves them running. */
  shutdown(mode: "stop" | "detach"): Promise<void>;
}

/** Creates an {@link AssignmentReconciler}. */
export function createAssignmentReconciler(options: ReconcilerOptions): AssignmentReconciler {
  const { logger } = options;
  const active = new Map<string, InstanceSupervisor>();
  // Supervisors being stopped keep reporting `stopping` until their process is gone.
  const leaving = new Map<string, InstanceSupervisor>();
  let queue: Promise<void> = Promise.resolve();
  let closed = false;

  async function spawnSupervisor(assignment: Assignment, recovered?: ProcessRecord): Promise<InstanceSupervisor> {
    const logFile = join(instanceDir(options.stateDir, assignment.assignmentId), "tei.log");
    const log = await createInstanceLog({ ...options.logOptions, file: logFile });
    return createInstanceSupervisor(assignment, { ...options.supervisorDeps, log, logFile }, recovered);
  }

  function retire(id: string, supervisor: InstanceSupervisor) {
    active.delete(id);
    leaving.set(id, supervisor);
    void supervisor.stop().finally(() => {
      if (leaving.get(id) === supervisor) leaving.delete(id);
    });
  }

  async function applyNow(assignments: readonly Assignment[]): Promise<void> {
    if (closed) return;
    const desired = new Map<string, Assignment>();
    for (const a of assignments) {
      if (a.assignmentId === "") {
        logger.warn({ instance: a.instanceName }, "ignoring an assignment without assignment_id");
        continue;
      }
      // Core's reader: an assignment from a control plane of the previous release carries only
      // the copied spec fields, and runs the spec they describe.
      desired.set(a.assignmentId, withAssignmentSpec(a));
    }
    for (const [id, supervisor] of active) {
      if (!desired.has(id)) {
        logger.info({ assignmentId: id }, "assignment removed; stopping its TEI process");
        retire(id, supervisor);
      }
    }
    for (const [id, assignment] of desired) {
      const current = active.get(id);
      if (current) {
        current.update(assignment);
        continue;
      }
      // A re-added assignment must not race its own previous process for the ports.
      const previous = leaving.get(id);
      if (previous) await previous.stop();
      logger.info({ assignmentId: id, instance: assignment.instanceName, model: assignment.spec?.modelId }, "new assignment");
      active.set(id, await spawnSupervisor(assignment));
    }
  }

  return {
    async recover(desiredList, waitMs = 5_000) {
      const desired = new Map(desiredList.map((a) => [a.assignmentId, a]));
      const records = await options.processStore.list((path, error) => logger.warn({ path, err: error.message }, "ignoring an unreadable process record"));
      const adopted: InstanceSupervisor[] = [];
      for (const record of records) {
        const assignment = desired.get(record.assignmentId);
        if (!assignment || assignment.desiredState === "stopped") {
          // Left over from an assignment that is gone: stop it if it still runs.
          const handle = handleOf(record);
          if (await options.driver.recover(handle)) {
            logger.info({ assignmentId: record.assignmentId, pid: record.pid }, "stopping a TEI process that is no longer assigned");
            await options.driver.stop(handle, options.supervisorDeps.timing?.stopGraceMs ?? 10_000);
          }
          await options.processStore.remove(record.assignmentId);
          continue;
        }
        const supervisor = await spawnSupervisor(assignment, record);
        active.set(record.assignmentId, supervisor);
        adopted.push(supervisor);
      }
      await withTimeout(Promise.all(adopted.map((s) => s.settled)), waitMs);
    },

    apply(assignments) {
      const run = queue.then(() => applyNow(assignments));
      queue = run.catch((error: unknown) => logger.error({ err: error }, "applying assignments failed"));
      return run;
    },

    statuses() {
      return [...active.values(), ...leaving.values()].map((s) => s.status());
    },

    supervisors() {
      return [...active.values(), ...leaving.values()];
    },

    markAllStopping(reason) {
      for (const s of active.values()) s.markStopping(reason);
    },

    async shutdown(mode) {
      closed = true;
      await queue;
      const all = [...active.values(), ...leaving.values()];
      active.clear();
      await Promise.all(all.map((s) => (mode === "stop" ? s.stop() : s.detach())));
      leaving.clear();
    },
  };
}
