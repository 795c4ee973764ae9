/**
 * How a call's replica is chosen among the replicas of its target (an instance's, or a model's
 * on every node). The route table finds the group; a Balancer picks in it. Round-robin
 * (round-robin-balancer.ts) is today's; a least-loaded one is to follow, which is why the
 * attempts tell the balancer when a call starts and ends on a replica.
 */
import type { Replica } from "./replica.ts";

/** The replicas one target can be served by, as the route table groups them. */
export interface ReplicaGroup {
  /** In index order (instance name, replica number, assignment id); ejected ones included. */
  readonly replicas: readonly Replica[];
  /**
   * The balancer's position in the group (round-robin: the next index to try; least-loaded:
   * where to start breaking ties), kept by the route table across updates that keep the group.
   */
  cursor: number;
}

/**
 * A strategy that picks a replica for a call. Called on every routed call, synchronously: a
 * pick must not allocate or wait.
 */
export interface Balancer {
  /**
   * Chooses a replica of `group`: one that is ready (`isReady`: not ejected) and is not
   * `exclude` (the replica a retry moves away from); null when there is none.
   */
  pick(group: ReplicaGroup, exclude: Replica | null): Replica | null;
  /** An attempt opened a stream on `replica` (a call, or its retry, is now loading it). */
  onCallStart(replica: Replica): void;
  /**
   * The attempt's stream on `replica` is over, however it ended (answered, failed, cancelled,
   * left for a retry elsewhere). Exactly once per {@link Balancer.onCallStart}.
   */
  onCallEnd(replica: Replica): void;
}
