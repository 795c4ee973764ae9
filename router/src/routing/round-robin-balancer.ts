/**
 * Round-robin over a group's ready replicas (nginx's and Envoy's default): each pick takes the
 * next ready replica after the previous pick, skipping ejected ones and the one a retry leaves.
 */
import type { Balancer, ReplicaGroup } from "./balancer.ts";
import { isReady, type Replica } from "./replica.ts";

/** The round-robin {@link Balancer}; it keeps no state beyond each group's cursor. */
export class RoundRobinBalancer implements Balancer {
  pick(group: ReplicaGroup, exclude: Replica | null): Replica | null {
    const list = group.replicas;
    const n = list.length;
    for (let i = 0; i < n; i++) {
      const idx = (group.cursor + i) % n;
      const r = list[idx] as Replica;
      if (r !== exclude && isReady(r)) {
        group.cursor = (idx + 1) % n;
        return r;
      }
    }
    return null;
  }

  /** Round-robin ignores load. */
  onCallStart(_replica: Replica): void {}

  /** Round-robin ignores load. */
  onCallEnd(_replica: Replica): void {}
}
