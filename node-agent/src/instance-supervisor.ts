import type { ReplicaPhase } from "@tei-fleet/core";
import type { Assignment, ReplicaStatus } from "@tei-fleet/proto/fleet/v1";
import { Wakeup } from "./async-utils.ts";
import { type Incarnation, recordOf } from "./incarnation.ts";
import { watchCpuFallback, watchExit } from "./incarnation-watch.ts";
import type { InstanceLog } from "./instance-log.ts";
import { createInstanceProber, type ProbeVerdict } from "./instance-prober.ts";
import { type LaunchPlan, LaunchPlanError, planLaunch } from "./launch-plan.ts";
import { launchIncarnation } from "./process-launch.ts";
import { recoverIncarnation } from "./process-recovery.ts";
import type { ProcessRecord } from "./process-state-file.ts";
import { releaseIncarnation, stopIncarnation } from "./process-stop.ts";
import { awaitReadiness } from "./readiness-wait.ts";
import { ReplicaReport } from "./replica-report.ts";
import { describeExit, specKey } from "./replica-status.ts";
import { RestartBackoff } from "./restart-backoff.ts";
import { FAILED_PROBE_RETRY_MS, resolveTiming, type SupervisorDeps } from "./supervisor-options.ts";
import { createTeiClient } from "./tei-client.ts";

export type { SupervisorDeps, SupervisorTiming } from "./supervisor-options.ts";

/**
 * One serialised worker per assignment (the kubelet's pod worker): a loop that looks at the desired
 * assignment and the observed process, takes one step toward convergence, and waits for the next
 * event (process exit, CPU fallback in the log, new assignment, probe due). Every step re-reads
 * the state, so a missed event only delays convergence, never breaks it. Liveness probing (when,
 * and what a failure counts for) is the prober's (instance-prober.ts), the start-up wait is
 * readiness-wait.ts's, and the reported status replica-report.ts's; the supervisor acts on their
 * outcomes.
 */

/** A running supervisor. */
export interface InstanceSupervisor {
  readonly assignmentId: string;
  /** The current desired assignment. */
  assignment(): Assignment;
  /** Replaces the desired assignment (same assignment id). */
  update(assignment: Assignment): void;
  /** The observed status, as heartbeats report it. */
  status(): ReplicaStatus;
  /** The current phase, as the agent's HTTP API, metrics and logs name it. */
  phase(): ReplicaPhase;
  /** The instance's log. */
  readonly log: InstanceLog;
  /** Reports `stopping` (routers drop the replica) without stopping anything yet. */
  markStopping(reason: string): void;
  /** Stops the loop and the process (SIGTERM, grace, SIGKILL). */
  stop(): Promise<void>;
  /** Stops the loop but leaves the process running, for the next agent to re-attach to. */
  detach(): Promise<void>;
  /** Resolves once the first status is known (for a re-attached process: after one readiness check). */
  readonly settled: Promise<void>;
}

/** Number of log lines carried in a failure status. */
const STATUS_LOG_LINES = 20;

/**
 * Starts supervising `assignment`. With `recovered`, first re-attaches to the process an earlier
 * agent started (if it still runs) instead of starting a new one.
 */
export async function createInstanceSupervisor(initial: Assignment, deps: SupervisorDeps, recovered?: ProcessRecord): Promise<InstanceSupervisor> {
  const timing = resolveTiming(deps.timing);
  const { stopGraceMs, unhealthyDrainMs, invalidRecheckMs } = timing;
  const makeClient = deps.createClient ?? createTeiClient;
  const backoff = new RestartBackoff(deps.restartPolicy);
  const wake = new Wakeup();
  const log = deps.log;
  const logger = deps.logger.child({ assignmentId: initial.assignmentId, instance: initial.instanceName });

  let desired = initial;
  let proc: Incarnation | undefined;
  let restarts = recovered?.restarts ?? 0;
  let restartPending = false;
  let retryAtMs = 0;
  let closing: "stop" | "detach" | undefined;
  let readinessAbort = new AbortController();
  let settle: () => void = () => {};
  const settled = new Promise<void>((resolve) => {
    settle = resolve;
  });
  const prober = createInstanceProber({
    intervalMs: timing.probeIntervalMs,
    timeoutMs: timing.probeTimeoutMs,
    failureThreshold: timing.probeFailureThreshold,
    failedRetryMs: FAILED_PROBE_RETRY_MS,
    logger,
    metrics: deps.metrics,
    labels: () => ({ assignmentId: desired.assignmentId, instance: desired.instanceName }),
  });

  /** Wakes the loop and cancels a readiness wait in progress. */
  const kick = () => {
    readinessAbort.abort();
    wake.notify();
  };

  // The status the agent reports; the facts other parts own are read from them at each snapshot.
  const report = new ReplicaReport({
    logger,
    onChange: deps.onStatusChange,
    live: () => ({
      assignmentId: desired.assignmentId,
      handle: proc?.handle,
      restarts,
      healthFailures: prober.failures,
      lastHealthCheckMs: prober.lastCheckMs,
    }),
  });

  watchCpuFallback(log, () => proc, kick);

  async function lastLines(): Promise<string[]> {
    await log.flush();
    return log.ring.tail(STATUS_LOG_LINES).map((l) => l.raw);
  }

  /** The launch plan, or undefined while the assignment cannot be planned. */
  function tryLaunchPlan(): LaunchPlan | undefined {
    try {
      return planLaunch(desired, deps.launchContext());
    } catch {
      return undefined;
    }
  }

  /** Watches `p` for its exit, which wakes the loop while `p` is the current process. */
  function watch(p: Incarnation) {
    watchExit(deps.driver, p, () => {
      if (proc === p) kick();
    });
  }

  /** Stops the current process and forgets it. */
  async function stopProcess(why: string): Promise<void> {
    const p = proc;
    if (!p) return;
    await stopIncarnation(p, why, { driver: deps.driver, logger, graceMs: stopGraceMs });
    proc = undefined;
    await deps.processStore.remove(desired.assignmentId).catch(() => {});
  }

  /** A failure of the instance: record it, stop what is left, schedule the restart. */
  async function fail(why: string): Promise<void> {
    // Exit code and signal are reported only when TEI ended on its own, not when the agent stopped it.
    const exit = proc?.exited;
    // Report the failure at once; the final status (with the restart plan) follows below.
    report.set("failed", why);
    await stopProcess(why);
    const lines = await lastLines();
    const decision = backoff.recordFailure(Date.now());
    // Everything below changes together, so no status snapshot mixes old and new facts.
    report.lastExit = exit;
    report.failureLines = lines;
    retryAtMs = Date.now() + decision.delayMs;
    restartPending = true;
    prober.reset();
    const retry = `restarting in ${(decision.delayMs / 1000).toFixed(1)}s`;
    if (decision.crashLoop) {
      report.set("crash_loop", `${why} (${decision.consecutiveFailures} failures in a row; ${retry})`);
    } else {
      report.set("failed", `${why}; ${retry}`);
    }
  }

  /** Starts TEI for the desired assignment (or takes back this instance's own TEI found on its port). */
  async function start(): Promise<void> {
    let plan: LaunchPlan;
    try {
      plan = planLaunch(desired, deps.launchContext());
    } catch (error) {
      if (!(error instanceof LaunchPlanError)) throw error;
      // Cannot run as given: say why and wait for a new assignment (or a re-check), no restart loop.
      retryAtMs = Date.now() + invalidRecheckMs;
      report.set("failed", error.message);
      return;
    }
    const host = deps.launchContext().advertiseAddress;
    const launch = await launchIncarnation(desired, plan, restarts, {
      driver: deps.driver,
      log,
      logFile: deps.logFile,
      host,
      client: (port) => makeClient(host, port),
    });
    if (launch.kind === "orphan") {
      logger.warn({ pid: launch.record.pid }, "found this instance's TEI running without a process record; re-attaching");
      await adopt(launch.record);
      if (proc) return deps.processStore.write(recordOf(proc, desired, restarts));
      return fail(launch.message);
    }
    if (launch.kind === "failed") return fail(launch.message);
    if (restartPending) restarts += 1;
    restartPending = false;
    report.lastExit = undefined;
    prober.reset();
    proc = launch.incarnation;
    watch(proc);
    logger.info({ pid: proc.handle.pid, args: plan.args, gpus: plan.gpuUuids }, "started TEI");
    report.set("starting", "waiting for TEI to report its model service SERVING");
    await deps.processStore.write(recordOf(proc, desired, restarts));
  }

  /** Waits for `p` to become ready (any event cuts the wait short) and acts on the outcome. */
  async function awaitReady(p: Incarnation): Promise<void> {
    readinessAbort = new AbortController();
    const result = await awaitReadiness(p, desired, timing, readinessAbort.signal);
    if (proc !== p || p.exited || p.cpuFallback || closing) return;
    if (result.ready) {
      report.info = result.info;
      report.kind = result.kind;
      p.kind = result.kind;
      p.runningSinceMs = Date.now();
      prober.ready();
      report.set("running", "");
      return;
    }
    if (readinessAbort.signal.aborted) return; // an event arrived; the loop re-evaluates
    await fail(result.reason);
  }

  /** Acts on a liveness verdict about `p`, the current process. */
  async function onVerdict(p: Incarnation, verdict: ProbeVerdict): Promise<void> {
    if (verdict.kind === "healthy") {
      if (verdict.dimension !== undefined) report.dimension = verdict.dimension;
      backoff.recordHealthy(p.runningSinceMs ?? verdict.atMs, verdict.atMs);
      return;
    }
    if (verdict.kind === "failing") {
      // Not unhealthy yet, but the failure count is news for the control plane.
      report.publish();
      return;
    }
    // Report unhealthy first, so routers stop sending to it, then restart it.
    report.set("unhealthy", verdict.reason);
    await wake.wait(unhealthyDrainMs);
    if (proc === p && !closing) await fail(verdict.reason);
  }

  /** One step toward the desired state. */
  async function step(): Promise<void> {
    const p = proc;
    if (desired.desiredState === "stopped") {
      if (p) {
        report.set("stopping", "desired state is stopped");
        await stopProcess("desired state is stopped");
      }
      report.set("stopped", "desired state is stopped");
      settle();
      await wake.wait();
      return;
    }
    if (p?.exited) {
      await fail(`TEI ${describeExit(p.exited)}`);
      settle();
      return;
    }
    if (p?.cpuFallback) {
      await fail(`TEI fell back to the CPU although GPU ${p.gpuUuids.join(",")} was assigned: ${p.cpuFallback}`);
      return;
    }
    if (p) {
      if (tryLaunchPlan()?.fingerprint !== p.fingerprint) {
        // The assignment changed what TEI must run (or became invalid): replace the process.
        report.set("stopping", "assignment changed");
        await stopProcess("assignment changed");
        backoff.reset();
        retryAtMs = 0;
        return;
      }
    }
    if (!p) {
      const wait = retryAtMs - Date.now();
      if (wait > 0) {
        settle();
        await wake.wait(wait);
        return;
      }
      await start();
      if (!proc) settle();
      return;
    }
    if (report.phase !== "running" && report.phase !== "unhealthy") {
      await awaitReady(p);
      settle();
      return;
    }
    const wait = prober.dueInMs();
    if (wait > 0) {
      await wake.wait(wait);
      return;
    }
    const verdict = await prober.probe(p.client, p.kind ?? "embedding", () => proc === p && !p.exited);
    if (verdict) await onVerdict(p, verdict);
  }

  /** Re-attaches to the recorded process, if it still runs. */
  async function adopt(record: ProcessRecord): Promise<void> {
    // An assignment that cannot be planned any more is found by the loop, which replaces the process.
    const gpuUuids = tryLaunchPlan()?.gpuUuids ?? [];
    const host = deps.launchContext().advertiseAddress;
    proc = await recoverIncarnation(record, {
      driver: deps.driver,
      processStore: deps.processStore,
      logger,
      gpuUuids,
      logStart: log.position,
      client: (port) => makeClient(host, port),
    });
    if (!proc) return;
    watch(proc);
    report.set("starting", "re-attached after an agent restart; checking readiness");
  }

  const loop = (async () => {
    if (recovered) await adopt(recovered);
    while (!closing) {
      try {
        await step();
      } catch (error) {
        // A bug or an I/O error must not kill the worker: report it and try again shortly.
        logger.error({ err: error }, "supervisor step failed");
        report.set("failed", `agent error: ${(error as Error).message}`);
        await wake.wait(1_000);
      }
    }
    settle();
  })();

  let shutdownDone: Promise<void> | undefined;
  function shutdown(mode: "stop" | "detach"): Promise<void> {
    // The first request decides; later calls wait for the same shutdown.
    shutdownDone ??= (async () => {
      closing = mode;
      kick();
      await loop;
      if (mode === "stop") {
        if (proc) report.set("stopping", "assignment removed or agent stopping");
        await stopProcess("assignment removed or agent stopping");
        report.set("stopped", "stopped");
      } else if (proc) {
        await releaseIncarnation(proc, recordOf(proc, desired, restarts), deps);
      }
      log.close();
    })();
    return shutdownDone;
  }

  return {
    assignmentId: initial.assignmentId,
    assignment: () => desired,
    update(next) {
      if (specKey(next) !== specKey(desired)) {
        // A new spec deserves a fresh start: no backoff inherited from the old one.
        backoff.reset();
        retryAtMs = 0;
      }
      desired = next;
      kick();
    },
    status: () => report.snapshot(),
    phase: () => report.phase,
    log,
    markStopping(why) {
      report.set("stopping", why);
    },
    stop: () => shutdown("stop"),
    detach: () => shutdown("detach"),
    settled,
  };
}
