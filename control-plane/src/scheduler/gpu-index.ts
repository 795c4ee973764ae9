import type { GpuView, NodeView } from "./node-view.ts";

/** One GPU in the index, ordered by free memory, then by a stable per-process node order. */
interface Entry {
  free: number;
  rank: number;
  node: NodeView;
  gpu: GpuView;
}

/**
 * Every GPU of every node, sorted by free memory: binpack's best fit (the GPU with the least free
 * memory that still fits) is a binary search and a short walk past ineligible entries instead of a
 * scan of every node. At 1,000 nodes the scan cost ~0.1-0.4 ms per placement and was the largest
 * CPU cost of a placement worker. Equal free memory is ordered by a per-process hash of the node
 * name (the same tie-break as place()), so a process fills one node's GPUs before the next and two
 * processes with different salts start on different nodes.
 */
export class GpuIndex {
  private readonly entries: Entry[] = [];
  private readonly byGpu = new Map<GpuView, Entry>();
  private readonly nodeRank: (name: string) => number;

  constructor(nodeRank: (name: string) => number) {
    this.nodeRank = nodeRank;
  }

  /** (Re)indexes every GPU of a node after its claims or record changed. */
  update(node: NodeView): void {
    for (const gpu of node.gpus) {
      const existing = this.byGpu.get(gpu);
      const free = gpu.totalMb - gpu.usedMb;
      if (existing && existing.free === free && existing.node === node) continue;
      if (existing) this.entries.splice(this.position(existing), 1);
      const entry: Entry = existing ?? { free, rank: this.nodeRank(node.name) * 64 + gpu.index, node, gpu };
      entry.free = free;
      entry.node = node;
      this.entries.splice(this.insertionPoint(entry.free, entry.rank), 0, entry);
      this.byGpu.set(gpu, entry);
    }
  }

  /** Drops a node's GPUs (the node's view was replaced or removed). */
  remove(node: NodeView): void {
    for (const gpu of node.gpus) {
      const entry = this.byGpu.get(gpu);
      if (!entry) continue;
      this.entries.splice(this.position(entry), 1);
      this.byGpu.delete(gpu);
    }
  }

  /** GPUs with at least `minFreeMb` free, best fit first. */
  *fitting(minFreeMb: number): Generator<{ node: NodeView; gpu: GpuView }> {
    for (let i = this.insertionPoint(minFreeMb, -Infinity); i < this.entries.length; i++) {
      const e = this.entries[i]!;
      yield { node: e.node, gpu: e.gpu };
    }
  }

  get size(): number {
    return this.entries.length;
  }

  /** First index whose key is >= (free, rank). */
  private insertionPoint(free: number, rank: number): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = this.entries[mid]!;
      if (e.free < free || (e.free === free && e.rank < rank)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private position(entry: Entry): number {
    const i = this.insertionPoint(entry.free, entry.rank);
    if (this.entries[i] === entry) return i;
    // Ranks are unique per GPU; a miss means the entry's key changed without update(): find it.
    const j = this.entries.indexOf(entry);
    if (j < 0) throw new Error("GPU index out of sync");
    return j;
  }
}
