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

/** Where a replica goes, or why it goes nowhere. */
export type PlacementDecision =
  | { fits: true; node: NodeView; gpuIds: number[]; port: number; prometheusPort: number }
  | { fits: false; reason: string };

/** Why a node cannot take the replica; counted per node to explain a failure. */
type Misfit =
  | "process capacity full" | "too few GPUs" | "GPU id missing" | "insufficient GPU memory"
  | "port taken" | "no free ports";

interface Candidate {
  node: NodeView;
  gpus: GpuView[];
  /** Lower is better, compared element by element. */
  score: number[];
}

/**
 * Chooses a node and GPUs for one replica. Pure: reads the views, changes nothing.
 *
 * Filtering follows Nomad and kube-scheduler: first the nodes the replica may go to at all
 * (ready, not cordoned or draining, matching the pin and the selector), then those with room
 * (process slots, GPUs, memory, ports), then a score by policy:
 * - `binpack` picks the GPUs with the least memory left after placing (best fit) on the fullest
 *   node, so small models share a GPU and whole GPUs stay free for big ones;
 * - `spread` picks the node and GPUs with the fewest replicas of the same instance, then the most
 *   free memory.
 * Ties are broken by a hash of the node name and `salt`, so that two scheduler processes with
 * different salts rarely race for the same GPU.
 */
export function place(req: ReplicaRequest, nodes: Iterable<NodeView>, salt = 0): PlacementDecision {
  const gpuCount = req.gpuId !== undefined ? 1 : req.gpuCount;
  const ineligible = new Map<string, number>();
  const misfits = new Map<Misfit, number>();
  const count = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);
  let eligible = 0;
  let pinnedSeen = false;
  let best: Candidate | undefined;

  for (const node of nodes) {
    if (req.node !== undefined && node.name !== req.node) continue;
    pinnedSeen = true;
    if (req.avoidNodes?.has(node.name)) { count(ineligible, "being moved away from"); continue; }
    if (node.state !== "ready") { count(ineligible, node.state || "not ready"); continue; }
    if (node.draining) { count(ineligible, "draining"); continue; }
    if (node.cordoned) { count(ineligible, "cordoned"); continue; }
    if (!matchesSelector(node.labels, req.selector)) { count(ineligible, "not matching the node selector"); continue; }
    eligible++;

    const misfit = checkNode(node, req, gpuCount);
    if (misfit) { count(misfits, misfit); continue; }
    const gpus = chooseGpus(node, req, gpuCount);
    if (!gpus) { count(misfits, gpuCount > node.gpus.length ? "too few GPUs" : "insufficient GPU memory"); continue; }
    const candidate: Candidate = { node, gpus, score: scoreOf(node, gpus, req) };
    if (!best || better(candidate, best, salt)) best = candidate;
  }

  if (best) {
    const [port, prometheusPort] = allocatePorts(best.node, req);
    return { fits: true, node: best.node, gpuIds: best.gpus.map((g) => g.index), port, prometheusPort };
  }
  return { fits: false, reason: explain(req, pinnedSeen, eligible, ineligible, misfits) };
}

/** True when every selector label is present with the same value. */
export function matchesSelector(labels: Record<string, string>, selector: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
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
function chooseGpus(node: NodeView, req: ReplicaRequest, gpuCount: number): GpuView[] | undefined {
  if (gpuCount === 0) return [];
  const fitting = node.gpus.filter((g) =>
    g.totalMb - g.usedMb >= req.memoryMb && (req.gpuId === undefined || g.index === req.gpuId));
  if (fitting.length < gpuCount) return undefined;
  if (gpuCount === 1 && req.policy === "binpack") {
    // The common case, without sorting: the GPU with the least room that still fits.
    let pick = fitting[0]!;
    for (const g of fitting) if (g.totalMb - g.usedMb < pick.totalMb - pick.usedMb) pick = g;
    return [pick];
  }
  if (req.policy === "binpack") {
    return fitting.sort((a, b) => (a.totalMb - a.usedMb) - (b.totalMb - b.usedMb)).slice(0, gpuCount);
  }
  const onGpu = peerGpuCounts(node.name, req);
  return fitting
    .sort((a, b) => (onGpu.get(a.index) ?? 0) - (onGpu.get(b.index) ?? 0) || (b.totalMb - b.usedMb) - (a.totalMb - a.usedMb))
    .slice(0, gpuCount);
}

function peerGpuCounts(nodeName: string, req: ReplicaRequest): Map<number, number> {
  const counts = new Map<number, number>();
  for (const p of req.peers) {
    if (p.node !== nodeName) continue;
    for (const g of p.gpuIds) counts.set(g, (counts.get(g) ?? 0) + 1);
  }
  return counts;
}

function scoreOf(node: NodeView, gpus: GpuView[], req: ReplicaRequest): number[] {
  const leftAfter = gpus.reduce((sum, g) => sum + g.totalMb - g.usedMb - req.memoryMb, 0);
  if (req.policy === "binpack") return [leftAfter, -node.count];
  const onNode = req.peers.filter((p) => p.node === node.name).length;
  const onGpu = peerGpuCounts(node.name, req);
  const onGpus = gpus.reduce((sum, g) => sum + (onGpu.get(g.index) ?? 0), 0);
  return [onNode, onGpus, node.count, -leftAfter];
}

function better(a: Candidate, b: Candidate, salt: number): boolean {
  for (let i = 0; i < a.score.length; i++) {
    if (a.score[i]! !== b.score[i]!) return a.score[i]! < b.score[i]!;
  }
  return tieHash(a.node.name, salt) < tieHash(b.node.name, salt);
}

/** FNV-1a of the name mixed with the salt: a stable, per-process order among equal nodes. */
function tieHash(name: string, salt: number): number {
  let h = (2166136261 ^ salt) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** The spec's ports, or the first free ones of the node's range. */
function allocatePorts(node: NodeView, req: ReplicaRequest): [number, number] {
  const taken = new Set<number>();
  const next = () => {
    for (let p = node.portStart; p <= node.portEnd; p++) {
      if (!node.ports.has(p) && !taken.has(p) && p !== req.port && p !== req.prometheusPort) { taken.add(p); return p; }
    }
    return 0; // unreachable: checkNode counted free ports
  };
  const port = req.port ?? next();
  const prometheusPort = req.prometheusPort ?? next();
  return [port, prometheusPort];
}

function explain(
  req: ReplicaRequest, pinnedSeen: boolean, eligible: number,
  ineligible: Map<string, number>, misfits: Map<Misfit, number>,
): string {
  if (req.node !== undefined && !pinnedSeen) return `pinned node "${req.node}" is not registered`;
  const list = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} ${k}`).join(", ");
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
