/**
 * Deficit round robin across flows (one flow per API key): the order in which the calls waiting
 * in one model's queue are served, so that one key flooding a model gets its weight's part of
 * the model's turns and no more, and every other key with calls waiting keeps getting its part.
 * Each call costs one turn (its size is not known before it is read); a flow's weight is the
 * turns it earns per round, fractions included (a flow of weight 0.5 is served every other
 * round). A flow that empties leaves the round and loses its deficit, as DRR prescribes, so an
 * idle key cannot save up turns.
 *
 * Items are removed lazily: an item whose `done` is set (its deadline passed) is skipped when it
 * comes up, costing no turn.
 */

/** What a flow holds: anything with a `done` mark. */
export interface FlowItem {
  /** Set once the item left the queue some other way; it is then skipped. */
  done: boolean;
}

interface Flow<T> {
  readonly id: string;
  weight: number;
  deficit: number;
  /** Whether the flow's current turn has had its quantum. */
  inTurn: boolean;
  items: T[];
  head: number;
  inRound: boolean;
}

/** The flows of one queue and whose turn it is. */
export class DeficitRoundRobin<T extends FlowItem> {
  private readonly flows = new Map<string, Flow<T>>();
  private readonly round: Flow<T>[] = [];
  private cursor = 0;

  /** Flows with items (done ones included until they come up). */
  get activeFlows(): number {
    return this.round.length;
  }

  /** Adds `item` at the end of flow `id`, whose weight is `weight` (> 0; the latest given counts). */
  push(id: string, weight: number, item: T): void {
    let f = this.flows.get(id);
    if (f === undefined) {
      f = { id, weight, deficit: 0, inTurn: false, items: [], head: 0, inRound: false };
      this.flows.set(id, f);
    }
    f.weight = weight > 0 ? weight : 1;
    f.items.push(item);
    if (!f.inRound) {
      f.inRound = true;
      this.round.push(f);
    }
  }

  /** The next item to serve, taken out; undefined when no flow holds a live one. */
  pop(): T | undefined {
    while (this.round.length > 0) {
      if (this.cursor >= this.round.length) this.cursor = 0;
      const f = this.round[this.cursor] as Flow<T>;
      const item = this.head(f);
      if (item === undefined) {
        this.leave(f);
        continue;
      }
      if (!f.inTurn) {
        f.inTurn = true;
        f.deficit += f.weight;
      }
      if (f.deficit >= 1) {
        f.deficit -= 1;
        f.head++;
        if (this.head(f) === undefined) this.leave(f);
        return item;
      }
      // Its turn is spent: the next flow's turn.
      f.inTurn = false;
      this.cursor++;
    }
    return undefined;
  }

  /** The flow's first live item, done ones dropped. */
  private head(f: Flow<T>): T | undefined {
    const items = f.items;
    while (f.head < items.length && (items[f.head] as T).done) f.head++;
    if (f.head >= items.length) {
      items.length = 0;
      f.head = 0;
      return undefined;
    }
    if (f.head > 1024 && f.head * 2 > items.length) {
      items.splice(0, f.head);
      f.head = 0;
    }
    return items[f.head];
  }

  /** Takes an emptied flow out of the round (the cursor then points at the next one). */
  private leave(f: Flow<T>): void {
    const i = this.round.indexOf(f);
    if (i >= 0) {
      this.round.splice(i, 1);
      if (i < this.cursor) this.cursor--;
    }
    f.inRound = false;
    f.inTurn = false;
    f.deficit = 0;
    f.items.length = 0;
    f.head = 0;
    this.flows.delete(f.id);
  }
}
