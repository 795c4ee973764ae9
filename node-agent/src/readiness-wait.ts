import type { Assignment } from "@tei-fleet/proto/fleet/v1";
import { type ReadinessResult, waitUntilServing } from "./health-probe.ts";
import type { Incarnation } from "./incarnation.ts";
import type { SupervisorTiming } from "./supervisor-options.ts";

/**
 * The wait after a launch or a re-attach until TEI serves its model (the kubelet's startup probe):
 * how long the process may take, and what giving up is reported as. What counts as ready (Info,
 * then grpc.health SERVING) is health-probe.ts's; what a result means for the process is the
 * supervisor's.
 */

/** The timing knobs the wait uses. */
export type ReadinessTiming = Pick<Required<SupervisorTiming>, "readinessPollMs" | "probeTimeoutMs" | "defaultStartupTimeoutMs">;

/**
 * Waits until `p` serves the model of `assignment`, its start-up deadline passes, or `signal`
 * aborts. A result that is not ready carries the failure to report as its reason.
 */
export async function awaitReadiness(p: Incarnation, assignment: Assignment, timing: ReadinessTiming, signal: AbortSignal): Promise<ReadinessResult> {
  const startupTimeoutSecs = assignment.spec?.startupTimeoutSecs ?? 0;
  const timeoutMs = startupTimeoutSecs > 0 ? startupTimeoutSecs * 1000 : timing.defaultStartupTimeoutMs;
  const result = await waitUntilServing(p.client, {
    deadlineMs: readinessDeadlineMs(p, timeoutMs, timing.readinessPollMs),
    pollIntervalMs: timing.readinessPollMs,
    callTimeoutMs: Math.min(timing.probeTimeoutMs, 2_000),
    signal,
  });
  if (result.ready) return result;
  return { ready: false, reason: `TEI did not become ready within ${Math.round(timeoutMs / 1000)}s: ${result.reason}` };
}

/**
 * The start-up timeout counts from the process's start. A re-attached process may have been
 * started long ago, past that deadline, though it only has to prove it still serves: it gets a
 * short grace of a few polls from now instead of failing at once.
 */
function readinessDeadlineMs(p: Incarnation, timeoutMs: number, pollMs: number): number {
  const deadlineMs = p.handle.startedAtMs + timeoutMs;
  if (!p.adopted) return deadlineMs;
  return Math.max(deadlineMs, Date.now() + Math.max(5_000, 4 * pollMs));
}
