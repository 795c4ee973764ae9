import type { ReplicaStatus } from "@tei-fleet/proto/fleet/v1";
import type { Logger } from "pino";
import type { InstanceLog } from "./instance-log.ts";
import type { LaunchContext } from "./launch-plan.ts";
import type { AgentMetrics } from "./metrics.ts";
import type { ProcessDriver } from "./process-driver.ts";
import type { ProcessStateStore } from "./process-state-file.ts";
import type { RestartPolicy } from "./restart-backoff.ts";
import type { TeiClient } from "./tei-client.ts";

/**
 * What an instance supervisor is given: its timing knobs (with their defaults) and the agent's
 * parts it works with. Passed in, never imported, so tests wire real parts with short timings.
 */

/**
 * After a failed liveness probe the next one comes this soon (or at the interval, if shorter), so
 * a TEI that answers errors is unhealthy in about `probeFailureThreshold` seconds.
 */
export const FAILED_PROBE_RETRY_MS = 1_000;

/** Timing knobs of a supervisor; every field has a default. */
export interface SupervisorTiming {
  /** Time between liveness probes of a running instance (1 s after a failed one). Default 5000 ms. */
  probeIntervalMs?: number;
  /** Deadline of one liveness probe. Default 5000 ms. */
  probeTimeoutMs?: number;
  /** Consecutive probe failures that make the instance `unhealthy` (then restarted). Default 3. */
  probeFailureThreshold?: number;
  /** Time between readiness checks while starting. Default 250 ms. */
  readinessPollMs?: number;
  /** Start-up timeout when the assignment gives none (startup_timeout_secs = 0). Default 600 s. */
  defaultStartupTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace when stopping TEI. Default 10000 ms. */
  stopGraceMs?: number;
  /** How long an `unhealthy` instance stays up (reported) before it is restarted. Default 2000 ms. */
  unhealthyDrainMs?: number;
  /** Re-check period of an assignment that cannot run here (bad args, unknown GPU). Default 30 s. */
  invalidRecheckMs?: number;
}

/** What a supervisor needs from the agent. */
export interface SupervisorDeps {
  driver: ProcessDriver;
  processStore: ProcessStateStore;
  logger: Logger;
  /** The node facts; `gpus` is read at each start, so a refreshed inventory is honoured. */
  launchContext: () => LaunchContext;
  /** The instance's log (already tailing its file). */
  log: InstanceLog;
  /** The file TEI's stdout and stderr go to (the one `log` tails). */
  logFile: string;
  timing?: SupervisorTiming;
  restartPolicy?: RestartPolicy;
  metrics?: AgentMetrics;
  /** Called whenever the reported status changes (the agent heartbeats promptly). */
  onStatusChange?: (status: ReplicaStatus) => void;
  /** Makes the gRPC client for a TEI process (tests may wrap it). */
  createClient?: (host: string, port: number) => TeiClient;
}

/** {@link SupervisorTiming} with every default filled in. */
export function resolveTiming(t: SupervisorTiming = {}): Required<SupervisorTiming> {
  return {
    probeIntervalMs: t.probeIntervalMs ?? 5_000,
    probeTimeoutMs: t.probeTimeoutMs ?? 5_000,
    probeFailureThreshold: t.probeFailureThreshold ?? 3,
    readinessPollMs: t.readinessPollMs ?? 250,
    defaultStartupTimeoutMs: t.defaultStartupTimeoutMs ?? 600_000,
    stopGraceMs: t.stopGraceMs ?? 10_000,
    unhealthyDrainMs: t.unhealthyDrainMs ?? 2_000,
    invalidRecheckMs: t.invalidRecheckMs ?? 30_000,
  };
}
