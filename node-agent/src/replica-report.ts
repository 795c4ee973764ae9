import type { ReplicaPhase } from "@tei-fleet/core";
import type { ReplicaStatus } from "@tei-fleet/proto/fleet/v1";
import type { InfoResponse } from "@tei-fleet/proto/tei/v1";
import type { Logger } from "pino";
import type { ProcessExit } from "./process-driver.ts";
import { type ReplicaFacts, replicaStatus } from "./replica-status.ts";
import type { TeiModelKind } from "./tei-client.ts";

/**
 * What one supervisor reports about its replica (the kubelet's status manager, apart from its pod
 * worker): the phase with its reason, and what the supervisor has observed of the process. A
 * phase change is logged and pushed to the agent at once, so a heartbeat carries it without
 * waiting for its period. The message itself is built by replica-status.ts.
 */

/** The facts of a status that other parts of the supervisor own; read afresh at each snapshot. */
export type LiveFacts = Pick<ReplicaFacts, "assignmentId" | "handle" | "restarts" | "healthFailures" | "lastHealthCheckMs">;

/** What a {@link ReplicaReport} is given. */
export interface ReplicaReportOptions {
  /** The supervisor's logger (already bound to the replica); every phase change is logged there. */
  logger: Logger;
  /** Called with the new status whenever it changes. */
  onChange?: (status: ReplicaStatus) => void;
  /** Reads the {@link LiveFacts}: the assignment, the process, the restart count, the prober's counters. */
  live: () => LiveFacts;
}

/**
 * A replica's reported state. The phase and its reason change only through
 * {@link ReplicaReport.set}; the observations are set by the supervisor as it learns them.
 */
export class ReplicaReport {
  /** How the last process ended, set only when TEI ended on its own (not when the agent stopped it). */
  lastExit?: ProcessExit;
  /** The last log lines of a failure; cleared once the replica runs again or is stopped. */
  failureLines: string[] = [];
  /** What TEI said about itself when it became ready. */
  info?: InfoResponse;
  /** The model's kind, learnt at readiness. */
  kind?: TeiModelKind;
  /** The embedding dimension, learnt from a liveness probe. */
  dimension?: number;
  #phase: ReplicaPhase = "starting";
  #reason = "";
  readonly #options: ReplicaReportOptions;

  constructor(options: ReplicaReportOptions) {
    this.#options = options;
  }

  /** The current phase, as the agent's HTTP API, metrics and logs name it. */
  get phase(): ReplicaPhase {
    return this.#phase;
  }

  /** Moves to phase `next` for reason `why`; logs and publishes it unless nothing changed. */
  set(next: ReplicaPhase, why: string): void {
    if (next === this.#phase && why === this.#reason) return;
    const level = next === "failed" || next === "crash_loop" || next === "unhealthy" ? "warn" : "info";
    this.#options.logger[level]({ status: next, reason: why || undefined }, `replica ${next}`);
    this.#phase = next;
    this.#reason = why;
    if (next === "running" || next === "stopped") this.failureLines = [];
    this.publish();
  }

  /** Publishes the current status without a phase change (a fact the control plane wants changed). */
  publish(): void {
    this.#options.onChange?.(this.snapshot());
  }

  /** The status as heartbeats report it. */
  snapshot(): ReplicaStatus {
    return replicaStatus({
      ...this.#options.live(),
      status: this.#phase,
      reason: this.#reason,
      lastExit: this.lastExit,
      failureLines: this.failureLines,
      kind: this.kind,
      dimension: this.dimension,
      info: this.info,
    });
  }
}
