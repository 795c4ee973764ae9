import type { Logger } from "pino";
import { type ProbeResult, probeOnce } from "./health-probe.ts";
import type { AgentMetrics } from "./metrics.ts";
import type { TeiClient, TeiModelKind } from "./tei-client.ts";

/**
 * The liveness prober of one replica (the kubelet's prober, apart from its pod worker): when the
 * next probe is due, what counts as a failure, how many failures in a row make the replica
 * unhealthy, and what each probe is recorded as (metrics, logs, the counters heartbeats carry).
 * The supervisor decides what a verdict means for the process (restart, status); the prober
 * never touches the process.
 *
 * Probes run one at a time: the supervisor awaits each one in its serialised loop (TEI's backend
 * queue can abort the process when probes pile up, tei.md §9 #424).
 */

/** What one probe means for the replica. */
export type ProbeVerdict =
  | { kind: "healthy"; atMs: number; dimension?: number }
  /** Failed, but fewer than the threshold in a row: report the count, keep serving. */
  | { kind: "failing"; atMs: number; failures: number }
  /** The threshold is reached: the replica is unhealthy and must be restarted. */
  | { kind: "unhealthy"; atMs: number; failures: number; reason: string };

/** What a prober is given. */
export interface ProberOptions {
  /** Time between probes of a healthy replica. */
  intervalMs: number;
  /** Deadline of one probe. */
  timeoutMs: number;
  /** Consecutive failures that make the replica unhealthy. */
  failureThreshold: number;
  /** After a failure the next probe comes this soon (or at the interval, if shorter). */
  failedRetryMs: number;
  /** The supervisor's logger (already bound to the replica). */
  logger: Logger;
  metrics?: AgentMetrics;
  /** Metric labels of the replica. */
  labels: () => { assignmentId: string; instance: string };
  /** Sends one probe; default {@link probeOnce}. */
  send?: (client: TeiClient, kind: TeiModelKind, timeoutMs: number) => Promise<ProbeResult>;
}

/** A replica's prober. Counters survive process restarts only as far as the supervisor resets them. */
export interface InstanceProber {
  /** Consecutive failed probes (ReplicaStatus.health_check_failures). */
  readonly failures: number;
  /** When the replica was last checked (a probe, or readiness), epoch ms. */
  readonly lastCheckMs: number | undefined;
  /** Milliseconds until the next probe is due; 0 or less: due now. */
  dueInMs(nowMs?: number): number;
  /**
   * TEI became ready: that is a successful check, the failure count starts over, and the first
   * probe is due at once (it proves real inference works and learns the embedding dimension).
   */
  ready(nowMs?: number): void;
  /** Forgets the failure count (the process was replaced or its failure handled). */
  reset(): void;
  /**
   * Sends one probe to `client` and records it, unless `current()` is false once it answers (the
   * process exited or was replaced meanwhile: the answer says nothing about the replica now).
   * Never throws.
   */
  probe(client: TeiClient, kind: TeiModelKind, current: () => boolean): Promise<ProbeVerdict | undefined>;
}

/** Creates a replica's prober. */
export function createInstanceProber(options: ProberOptions): InstanceProber {
  const { logger } = options;
  const send = options.send ?? probeOnce;
  let failures = 0;
  let lastCheckMs: number | undefined;
  let nextProbeAtMs = 0;

  return {
    get failures() {
      return failures;
    },
    get lastCheckMs() {
      return lastCheckMs;
    },
    dueInMs: (nowMs = Date.now()) => nextProbeAtMs - nowMs,
    ready(nowMs = Date.now()) {
      nextProbeAtMs = nowMs;
      failures = 0;
      lastCheckMs = nowMs;
    },
    reset() {
      failures = 0;
    },
    async probe(client, kind, current) {
      const result = await send(client, kind, options.timeoutMs);
      if (!current()) return undefined;
      const now = Date.now();
      lastCheckMs = now;
      // A failed probe is repeated soon, so a TEI that answers errors is unhealthy in about
      // `failureThreshold` seconds rather than threshold intervals.
      nextProbeAtMs = now + (result.ok ? options.intervalMs : Math.min(options.intervalMs, options.failedRetryMs));
      options.metrics?.observeProbe(options.labels(), result.ok, result.latencyMs / 1000);
      if (result.ok) {
        if (failures > 0) logger.info({ after: failures }, "liveness probe recovered");
        failures = 0;
        return { kind: "healthy", atMs: now, dimension: result.dimension };
      }
      failures += 1;
      logger.warn({ failures, error: result.error }, "liveness probe failed");
      if (failures < options.failureThreshold) return { kind: "failing", atMs: now, failures };
      return { kind: "unhealthy", atMs: now, failures, reason: `liveness probe failed ${failures} times in a row (last: ${result.error})` };
    },
  };
}
