/**
 * Smooth weighted round-robin (nginx's upstream balancing): each pick adds every eligible
 * target's weight to its running score, takes the highest, and subtracts the total from it. It
 * is deterministic and spreads picks evenly: weights 95/5 give exactly 95 and 5 in every 100
 * consecutive picks, the 5 spaced out, so a canary's share holds over any window, not just on
 * average. Targets left out of a pick (disabled, down) neither gain nor lose score.
 */

/** The running scores of one alias's targets. */
export class SmoothWeighted {
  private readonly current: number[];
  private readonly weights: readonly number[];

  constructor(weights: readonly number[]) {
    this.weights = weights;
    this.current = new Array<number>(weights.length).fill(0);
  }

  /** Number of targets. */
  get size(): number {
    return this.weights.length;
  }

  /**
   * The index of the next target among those `eligible` says yes to (all when omitted); -1 when
   * none is eligible.
   */
  pick(eligible?: (index: number) => boolean): number {
    let total = 0;
    let best = -1;
    const cur = this.current;
    for (let i = 0; i < cur.length; i++) {
      if (eligible !== undefined && !eligible(i)) continue;
      const w = this.weights[i] as number;
      cur[i] = (cur[i] as number) + w;
      total += w;
      if (best < 0 || (cur[i] as number) > (cur[best] as number)) best = i;
    }
    if (best >= 0) cur[best] = (cur[best] as number) - total;
    return best;
  }
}
