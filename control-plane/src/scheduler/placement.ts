import type { GpuIndex } from "./gpu-index.ts";
import type { GpuView, NodeView } from "./node-view.ts";

/** What one replica needs, derived from its instance spec (see placement-request.ts). */
export interface ReplicaRequest {
  instance: string;
  index: number;
  /** GPUs the replica gets; 0 runs it on CPU. */
  gpuCount: number;
  /** Memory claimed on each of its GPUs, in MiB. */
  memoryMb: number;
  /** Pinned node. */
  node?: string;
  /** Pinned GPU index (implies gpuCount 1). */
  gpuId?: number;
  /** Labels an eligible node must carry, all of them. */
  selector: Record<string, string>;
  policy: "binpack" | "spread";
  /** Fixed ports; allocated from the node's range when absent. */
  port?: number;
  prometheusPort?: number;
  /** Where the other replicas of the same instance run (for spread). */
  peers: ReadonlyArray<{ node: string; gpuIds: readonly number[] }>;
  /** Nodes this replica must not go to (e.g. the node it is moving away from). */
  avoidNodes?: ReadonlySet<string>;
}

/** How place() searches; every option is an optimisation that leaves the rules unchanged. */
export interface PlaceOptions {
  /** Tie-break salt: equal candidates are ordered by a hash of the node name and this. Default 0. */
  salt?: number;
  /** GPUs by free memory, for binpack's best fit without a scan (must index `nodes`). */
  index?: GpuIndex;
  /** This worker's share of the nodes, preferred (see worker-shards.ts). */
  owns?: (node: string) => boolean;
  /** Spread stops after this many feasible nodes of a random sample (when `nodes` is a larger array). */
  sampleLimit?: number;
}

/** Where a replica goes, or why it goes nowhere. */
export type PlacementDecision = { fits: true; node: NodeView; gpuIds: number[]; port: number; prometheusPort: number } | { fits: false; reason: string };

/** Why a node cannot take the replica; counted per node to explain a failure. */
type Misfit = "process capacity full" | "too few GPUs" | "GPU id missing" | "insufficient GPU memory" | "port taken" | "no free ports";

/** The best node so far and its score (lower is better, compared in order). */
interface Candidate {
  node: NodeView;
  gpus: GpuView[];
  score: [number, number, number, number];
}

/**
 * Chooses a node and GPUs for one replica. Pure: reads the views, changes nothing.
 *
 * Filtering follows Nomad and kube-scheduler: first the nodes the replica may go to at all
 * (ready, not cordoned or draining, matching the pin and the selector), then those with room
 * (process slots, GPUs, memory, ports), then a score by policy:
 * - `binpack` picks the GPUs with the least memory left after placing (best fit), so small models
 *   share a GPU and whole GPUs stay free for big ones; among equally good GPUs the tie-break
 *   order of nodes is fixed per process, so one node fills before the next;
 * - `spread` picks the node and GPUs with the fewest replicas of the same instance, then the
 *   least loaded node and the most free memory.
 * Ties are broken by a hash of the node name and `salt`, so that two scheduler processes with
 * different salts rarely race for the same GPU.
 *
 * This runs once per replica over every node (8,000 GPUs in the benchmark), so the loop avoids
 * allocating: peers are indexed once, scores are four numbers.
 */
export function place(req: ReplicaRequest, nodes: Iterable<NodeView>, options: PlaceOptions = {}): PlacementDecision {
  const { salt = 0, index, owns, sampleLimit } = options;
  const gpuCount = req.gpuId !== undefined ? 1 : req.gpuCount;
  if (index && req.policy === "binpack" && gpuCount === 1) {
    // This worker's share of the nodes first (see worker-shards.ts), then any node.
    const fast = (owns && req.node === undefined ? bestFitFromIndex(req, index, owns) : undefined) ?? bestFitFromIndex(req, index);
    if (fast) return fast;
    // Nothing fits: the full scan below finds the same and explains why.
  }
  const selector = Object.entries(req.selector);
  const peers = indexPeers(req);
  const ineligible = new Map<string, number>();
  const misfits = new Map<Misfit, number>();
  const count = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);
  let eligible = 0;
  let pinnedSeen = false;
  let best: Candidate | undefined;
  const score: [number, number, number, number] = [0, 0, 0, 0];
  // Spread over a large fleet looks at a random sample of feasible nodes (Nomad's limit
  // iterator), not at every node: any node without a peer is as good as the best one.
  const sampling = sampleLimit !== undefined && req.policy === "spread" && req.node === undefined && Array.isArray(nodes) && nodes.length > sampleLimit;
  let feasible = 0;

  for (const node of sampling ? rotated(nodes as NodeView[]) : nodes) {
    if (sampling && feasible >= sampleLimit!) break;
    if (req.node !== undefined && node.name !== req.node) continue;
    pinnedSeen = true;
    if (req.avoidNodes?.has(node.name)) {
      count(ineligible, "avoided");
      continue;
    }
    if (node.state !== "ready") {
      count(ineligible, node.state || "not ready");
      continue;
    }
    if (node.draining) {
      count(ineligible, "draining");
      continue;
    }
    if (node.cordoned) {
      count(ineligible, "cordoned");
      continue;
    }
    if (selector.length > 0 && !selector.every(([k, v]) => node.labels[k] === v)) {
      count(ineligible, "not matching the node selector");
      continue;
    }
    eligible++;

    const misfit = checkNode(node, req, gpuCount);
    if (misfit) {
      count(misfits, misfit);
      continue;
    }
    const onGpu = peers.byGpu.get(node.name);
    const gpus = chooseGpus(node, req, gpuCount, onGpu);
    if (!gpus) {
      count(misfits, "insufficient GPU memory");
      continue;
    }
    feasible++;

    let leftAfter = 0;
    let onGpus = 0;
    for (const g of gpus) {
      leftAfter += g.totalMb - g.usedMb - req.memoryMb;
      onGpus += onGpu?.get(g.index) ?? 0;
    }
    if (req.policy === "binpack") {
      score[0] = leftAfter;
      score[1] = 0;
      score[2] = 0;
      score[3] = 0;
    } else {
      // Fewest peers first; then this worker's share of the nodes, then the least loaded node.
      score[0] = peers.byNode.get(node.name) ?? 0;
      score[1] = onGpus;
      score[2] = node.count + (owns && !owns(node.name) ? 1e6 : 0);
      score[3] = -leftAfter;
    }
    if (!best || better(score, node, best, salt)) best = { node, gpus, score: [...score] };
  }

  if (best) {
    const [port, prometheusPort] = allocatePorts(best.node, req);
    return { fits: true, node: best.node, gpuIds: best.gpus.map((g) => g.index), port, prometheusPort };
  }
  return { fits: false, reason: explain(req, pinnedSeen, eligible, ineligible, misfits) };
}

/**
 * Binpack for one GPU through the GPU index: the first GPU in best-fit order whose node passes
 * every filter is the answer place() would give by scanning (same order, same tie-break).
 */
function bestFitFromIndex(req: ReplicaRequest, index: GpuIndex, owns?: (node: string) => boolean): PlacementDecision | undefined {
  const selector = Object.entries(req.selector);
  for (const { node, gpu } of index.fitting(req.memoryMb)) {
    if (req.gpuId !== undefined && gpu.index !== req.gpuId) continue;
    if (owns && !owns(node.name)) continue;
    if (req.node !== undefined && node.name !== req.node) continue;
    if (req.avoidNodes?.has(node.name) || node.state !== "ready" || node.draining || node.cordoned) continue;
    if (selector.length > 0 && !selector.every(([k, v]) => node.labels[k] === v)) continue;
    if (checkNode(node, req, 1)) continue;
    const [port, prometheusPort] = allocatePorts(node, req);
    return { fits: true, node, gpuIds: [gpu.index], port, prometheusPort };
  }
  return undefined;
}

/** Every element once, starting at a random position. */
function* rotated<T>(list: T[]): Generator<T> {
  const start = Math.floor(Math.random() * list.length);
  for (let i = 0; i < list.length; i++) yield list[(start + i) % list.length]!;
}

/** Replicas of the same instance per node and per GPU of each node. */
function indexPeers(req: ReplicaRequest) {
  const byNode = new Map<string, number>();
  const byGpu = new Map<string, Map<number, number>>();
  for (const p of req.peers) {
    byNode.set(p.node, (byNode.get(p.node) ?? 0) + 1);
    let gpus = byGpu.get(p.node);
    if (!gpus) byGpu.set(p.node, (gpus = new Map()));
    for (const g of p.gpuIds) gpus.set(g, (gpus.get(g) ?? 0) + 1);
  }
  return { byNode, byGpu };
}

function better(score: readonly number[], node: NodeView, best: Candidate, salt: number): boolean {
  for (let i = 0; i < 4; i++) {
    if (score[i]! !== best.score[i]!) return score[i]! < best.score[i]!;
  }
  return tieHash(node.name, salt) < tieHash(best.node.name, salt);
}

function checkNode(node: NodeView, req: ReplicaRequest, gpuCount: number): Misfit | undefined {
  if (node.capacity > 0 && node.count >= node.capacity) return "process capacity full";
  if (gpuCount > node.gpus.length) return "too few GPUs";
  if (req.gpuId !== undefined && !node.gpus.some((g) => g.index === req.gpuId)) return "GPU id missing";
  if (req.port !== undefined && node.ports.has(req.port)) return "port taken";
  if (req.prometheusPort !== undefined && node.ports.has(req.prometheusPort)) return "port taken";
  const needed = (req.port === undefined ? 1 : 0) + (req.prometheusPort === undefined ? 1 : 0);
  if (needed > 0 && node.portEnd - node.portStart + 1 - node.ports.size < needed) return "no free ports";
  return undefined;
}

/** The GPUs this replica would use on the node, or undefined when too few have room. */
function chooseGpus(node: NodeView, req: ReplicaRequest, gpuCount: number, onGpu: Map<number, number> | undefined): GpuView[] | undefined {
  if (gpuCount === 0) return [];
  const need = req.memoryMb;
  const binpack = req.policy === "binpack";
  if (gpuCount === 1) {
    // The common case, without allocating: one pass over the node's GPUs.
    let pick: GpuView | undefined;
    let pickRank = Infinity;
    for (const g of node.gpus) {
      const free = g.totalMb - g.usedMb;
      if (free < need || (req.gpuId !== undefined && g.index !== req.gpuId)) continue;
      // Lower is better: binpack wants the least room left, spread the fewest peers, then the most room.
      const rank = binpack ? free : (onGpu?.get(g.index) ?? 0) * 1e9 - free;
      if (rank < pickRank) {
        pick = g;
        pickRank = rank;
      }
    }
    return pick ? [pick] : undefined;
  }
  const rank = (g: GpuView) => (binpack ? g.totalMb - g.usedMb : (onGpu?.get(g.index) ?? 0) * 1e9 - (g.totalMb - g.usedMb));
  const fitting = node.gpus.filter((g) => g.totalMb - g.usedMb >= need && (req.gpuId === undefined || g.index === req.gpuId));
  if (fitting.length < gpuCount) return undefined;
  return fitting.sort((a, b) => rank(a) - rank(b)).slice(0, gpuCount);
}

/** FNV-1a of the name mixed with the salt: a stable, per-process order among equal nodes. */
export function tieHash(name: string, salt: number): number {
  let h = (2166136261 ^ salt) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** The spec's ports, or the first free ones of the node's range. */
function allocatePorts(node: NodeView, req: ReplicaRequest): [number, number] {
  const taken = new Set<number>();
  const next = () => {
    for (let p = node.portStart; p <= node.portEnd; p++) {
      if (!node.ports.has(p) && !taken.has(p) && p !== req.port && p !== req.prometheusPort) {
        taken.add(p);
        return p;
      }
    }
    return 0; // unreachable: checkNode counted free ports
  };
  const port = req.port ?? next();
  const prometheusPort = req.prometheusPort ?? next();
  return [port, prometheusPort];
}

function explain(req: ReplicaRequest, pinnedSeen: boolean, eligible: number, ineligible: Map<string, number>, misfits: Map<Misfit, number>): string {
  if (req.node !== undefined && !pinnedSeen) return `pinned node "${req.node}" is not registered`;
  const list = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${n} ${k}`)
      .join(", ");
  if (eligible === 0) {
    if (req.node !== undefined) return `pinned node "${req.node}" is ${[...ineligible.keys()].join(", ")}`;
    return ineligible.size === 0 ? "no nodes registered" : `no eligible nodes (${list(ineligible)})`;
  }
  const sorted = [...misfits].sort((a, b) => b[1] - a[1]);
  const primary = sorted[0]?.[0] ?? "no fit";
  const what = primary === "port taken" ? `port ${req.port ?? req.prometheusPort} taken` : primary;
  const detail = sorted.length > 1 ? ` (${list(misfits as Map<string, number>)})` : "";
  return `${what} on 0/${eligible} eligible nodes${detail}`;
}
