import type { InstanceSpec, PlannedReplica } from "@tei-fleet/proto/fleet/v1";

/** Result of asking the scheduler whether a spec could ever be placed. */
export type SpecCheck = { ok: true } | { ok: false; reason: string; field: string };

/**
 * What the instance API needs from the scheduler (control-plane/src/scheduler, built apart). The
 * API owns desired state; the scheduler turns it into placements. After every change of an
 * instance the API calls `enqueue(name)`; the scheduler re-reads the instance from Redis
 * (level-triggered), so a lost or repeated call never breaks anything.
 */
export interface SchedulerPort {
  /** Asks for the instance to be reconciled: placed, updated, stopped or removed. */
  enqueue(instanceName: string): Promise<void>;
  /**
   * Checks facts that depend on the nodes: a `gpu_id` some eligible node has, a `port` free on
   * some eligible node, a pinned node that exists. Never-possible requests fail with the field.
   */
  checkSpec(spec: InstanceSpec): Promise<SpecCheck>;
  /** Restarts every replica of the instance (a new process each, the spec unchanged). */
  restart(instanceName: string): Promise<void>;
  /** Dry run: where these specs would go, and what does not fit. Changes nothing. */
  plan(specs: InstanceSpec[]): Promise<PlannedReplica[]>;
}
