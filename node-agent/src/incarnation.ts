import type { Assignment } from "@tei-fleet/proto/fleet/v1";
import type { ProcessExit, ProcessHandle } from "./process-driver.ts";
import type { ProcessRecord } from "./process-state-file.ts";
import type { TeiClient, TeiModelKind } from "./tei-client.ts";

/**
 * One incarnation of an instance's TEI process, as its supervisor tracks it, and its round trip
 * through the state dir's process record (so the next agent can re-attach to it).
 */

/** One incarnation of the TEI process. */
export interface Incarnation {
  handle: ProcessHandle;
  fingerprint: string;
  port: number;
  prometheusPort: number;
  gpuUuids: string[];
  client: TeiClient;
  /** Log position where this incarnation's output starts. */
  logStart: number;
  exited?: ProcessExit;
  cpuFallback?: string;
  kind?: TeiModelKind;
  runningSinceMs?: number;
  /** Re-attached after an agent restart: readiness gets a short grace instead of failing at once. */
  adopted: boolean;
}

/** The process record to save for `p` (what a restarted agent needs to re-attach). */
export function recordOf(p: Incarnation, assignment: Assignment, restarts: number): ProcessRecord {
  return {
    version: 1,
    assignmentId: assignment.assignmentId,
    instanceName: assignment.instanceName,
    pid: p.handle.pid,
    pgid: p.handle.pgid,
    startTime: p.handle.startTime,
    startedAtMs: p.handle.startedAtMs,
    port: p.port,
    prometheusPort: p.prometheusPort,
    fingerprint: p.fingerprint,
    restarts,
  };
}

/** The driver handle of a recorded process. */
export function handleOf(record: ProcessRecord): ProcessHandle {
  return { pid: record.pid, pgid: record.pgid, startTime: record.startTime, startedAtMs: record.startedAtMs };
}
