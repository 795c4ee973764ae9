/**
 * The status words of replicas and instances, once. An agent reports a replica's phase in
 * `ReplicaStatus.status` (proto's InstanceStatus enum; instance-status-proto.ts maps the two); the
 * control plane folds replicas into an instance status; REST, metrics and the OpenAPI schema list
 * the same words. Each list used to be written out where it was used, five times.
 */

/**
 * What an agent reports for one replica: the phase of its supervisor. tei-manager's statuses
 * (starting, running, stopping, stopped, failed) plus `unhealthy` (running but failing liveness
 * probes; about to be restarted) and `crash_loop` (failing too often; restarts are backed off).
 */
export const REPLICA_PHASES = ["starting", "running", "unhealthy", "stopping", "stopped", "failed", "crash_loop"] as const;

/** One of {@link REPLICA_PHASES}. */
export type ReplicaPhase = (typeof REPLICA_PHASES)[number];

/**
 * An instance's aggregate status: the replica phases, plus `pending` (no replica placed yet) and
 * `unreadable` (the control plane cannot decode the stored record). Ordered as the API documents
 * them, which is the order of metric label sets and of the OpenAPI enum.
 */
export const INSTANCE_STATUSES = ["pending", ...REPLICA_PHASES, "unreadable"] as const;

/** One of {@link INSTANCE_STATUSES}. */
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];

/**
 * Statuses in which the agent cannot keep a replica serving: `failed` (CPU fallback, missing GPU,
 * unusable binary, port taken) and `crash_loop` (TEI keeps exiting). The scheduler reschedules
 * such replicas and routers never get them.
 */
export const FAILING_PHASES: ReadonlySet<string> = new Set<ReplicaPhase>(["failed", "crash_loop"]);

/** True for a {@link FAILING_PHASES} status. */
export function isFailingStatus(status: string): boolean {
  return FAILING_PHASES.has(status);
}

/**
 * Statuses of a replica that holds no running process (stopped, or given up on); an instance
 * desired stopped is `stopped` once every placed replica is in one of these.
 */
export const AT_REST_PHASES: ReadonlySet<string> = new Set<ReplicaPhase>(["stopped", "failed", "crash_loop"]);

/** True for one of {@link INSTANCE_STATUSES}. */
export function isInstanceStatus(word: string): word is InstanceStatus {
  return (INSTANCE_STATUSES as readonly string[]).includes(word);
}

/**
 * The status of a record that keeps it as a word (the control plane's Replica records, stored as
 * proto JSON with a string `status`), typed: one of {@link INSTANCE_STATUSES}, or undefined for a
 * word this version does not know (a newer writer's), or no status or record. Compare what it returns, not
 * the raw word, so that a misspelt status is a type error.
 */
export function statusOf(record: { readonly status?: string } | undefined): InstanceStatus | undefined {
  const word = record?.status;
  return word !== undefined && isInstanceStatus(word) ? word : undefined;
}
