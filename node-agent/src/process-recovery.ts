import type { Assignment } from "@tei-fleet/proto/fleet/v1";
import type { Logger } from "pino";
import { handleOf, type Incarnation } from "./incarnation.ts";
import type { LaunchPlan } from "./launch-plan.ts";
import { portProblem } from "./port-check.ts";
import { findPortOwner, runsCommand } from "./port-owner.ts";
import { readProcStat } from "./proc-stat.ts";
import type { ProcessDriver } from "./process-driver.ts";
import type { ProcessRecord, ProcessStateStore } from "./process-state-file.ts";
import type { TeiClient } from "./tei-client.ts";

/**
 * Finding TEI processes an earlier agent left running (Nomad's RecoverTask): from a process
 * record in the state dir, or, when the record was lost, from the instance's own port.
 */

/** What {@link checkPorts} found on the ports an instance is about to use. */
export type PortCheck =
  | { kind: "free" }
  /** This instance's own TEI already listens there (its record was lost): re-attach to it. */
  | { kind: "ours"; pid: number; message: string }
  | { kind: "taken"; message: string };

/** Checks that TEI's ports are free on `host`, naming the program that holds a taken one. */
export async function checkPorts(host: string, ports: readonly number[], plan: LaunchPlan): Promise<PortCheck> {
  for (const port of ports) {
    const problem = await portProblem(host, port);
    if (!problem) continue;
    const owner = await findPortOwner(port);
    const who = owner ? ` (pid ${owner.pid}: ${owner.argv.join(" ").slice(0, 200)})` : "";
    const message = `cannot start TEI: ${problem}${who}`;
    if (owner && runsCommand(owner.argv, plan.command, plan.args)) return { kind: "ours", pid: owner.pid, message };
    return { kind: "taken", message };
  }
  return { kind: "free" };
}

/** A process record for a running TEI found without one, or undefined when `pid` is gone. */
export async function orphanRecord(pid: number, assignment: Assignment, plan: LaunchPlan, restarts: number): Promise<ProcessRecord | undefined> {
  const stat = await readProcStat(pid);
  if (!stat) return undefined;
  return {
    version: 1,
    assignmentId: assignment.assignmentId,
    instanceName: assignment.instanceName,
    pid,
    pgid: stat.pgrp,
    startTime: stat.startTime,
    startedAtMs: Date.now(),
    port: assignment.port,
    prometheusPort: assignment.prometheusPort,
    // Same binary and argv as planned; its environment cannot be compared (TEI may add to it).
    fingerprint: plan.fingerprint,
    restarts,
  };
}

/** What {@link recoverIncarnation} needs from the supervisor. */
export interface RecoveryDeps {
  driver: ProcessDriver;
  processStore: ProcessStateStore;
  logger: Logger;
  /** A TEI client for the recovered process's port. */
  client(port: number): TeiClient;
  /** The GPUs the current assignment gives the process (empty when it cannot be planned). */
  gpuUuids: string[];
  /** Log position where the recovered process's new output starts. */
  logStart: number;
}

/**
 * Re-attaches to the process `record` describes if it still runs (same pid and start time), or
 * forgets the record when it does not.
 */
export async function recoverIncarnation(record: ProcessRecord, deps: RecoveryDeps): Promise<Incarnation | undefined> {
  const handle = handleOf(record);
  if (!(await deps.driver.recover(handle))) {
    deps.logger.info({ pid: record.pid }, "recorded TEI process is gone; starting a new one");
    await deps.processStore.remove(record.assignmentId).catch(() => {});
    return undefined;
  }
  deps.logger.info({ pid: record.pid }, "re-attached to running TEI process");
  return {
    handle,
    fingerprint: record.fingerprint,
    port: record.port,
    prometheusPort: record.prometheusPort,
    gpuUuids: deps.gpuUuids,
    client: deps.client(record.port),
    logStart: deps.logStart,
    adopted: true,
  };
}
