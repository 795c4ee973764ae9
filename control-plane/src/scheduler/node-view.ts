/**
 * The scheduler's picture of one node: its inventory and state (from `node:{name}`) joined with
 * what is claimed on it (from `node-claims:{name}`). Placement decides on these views; the claim
 * script re-checks every number against Redis, so a stale view can cost a retry, never a
 * double-booking.
 */

/** One GPU of a node with the memory already claimed on it. */
export interface GpuView {
  index: number;
  uuid: string;
  totalMb: number;
  usedMb: number;
}

/** A node as placement sees it. Mutable: the node cache applies its own claims to it at once. */
export interface NodeView {
  name: string;
  /** Address TEI binds and routers dial. */
  address: string;
  /** Decimal string: the epoch is a uint64 and must round-trip exactly. */
  epoch: string;
  /** ready | lost | left */
  state: string;
  cordoned: boolean;
  draining: boolean;
  labels: Record<string, string>;
  gpus: GpuView[];
  /** Most TEI processes this node runs; 0 means no limit. */
  capacity: number;
  /** Processes claimed. */
  count: number;
  portStart: number;
  portEnd: number;
  /** Ports claimed on this node (gRPC and Prometheus alike). */
  ports: Set<number>;
}

/** Port range used when an agent declares none (the agent's own default). */
export const DEFAULT_PORT_RANGE = { start: 20000, end: 20999 } as const;

/** Loosely typed proto JSON of a Node, as the claim script and this module read it. */
interface NodeJson {
  name?: string;
  address?: string;
  epoch?: string | number;
  state?: string;
  cordoned?: boolean;
  draining?: boolean;
  labels?: Record<string, string>;
  gpus?: Array<{ index?: number; uuid?: string; memoryTotalMb?: string | number }>;
  capacity?: number;
  portRangeStart?: number;
  portRangeEnd?: number;
}

/**
 * Builds a view from the stored node JSON and its claims hash. Plain JSON.parse rather than
 * fromJsonString: this runs for every node on every cache refresh, and only a few fields matter.
 */
export function nodeViewFromRedis(nodeJson: string, claims: Record<string, string>): NodeView {
  const n = JSON.parse(nodeJson) as NodeJson;
  const gpus: GpuView[] = (n.gpus ?? []).map((g) => ({
    index: g.index ?? 0,
    uuid: g.uuid ?? "",
    totalMb: Number(g.memoryTotalMb ?? 0),
    usedMb: 0,
  }));
  const view: NodeView = {
    name: n.name ?? "",
    address: n.address ?? "",
    epoch: String(n.epoch ?? "0"),
    state: n.state ?? "",
    cordoned: n.cordoned ?? false,
    draining: n.draining ?? false,
    labels: n.labels ?? {},
    gpus,
    capacity: n.capacity ?? 0,
    count: 0,
    portStart: n.portRangeStart || DEFAULT_PORT_RANGE.start,
    portEnd: n.portRangeEnd || DEFAULT_PORT_RANGE.end,
    ports: new Set(),
  };
  applyClaims(view, claims);
  return view;
}

/** Replaces the claimed amounts of a view with those of a `node-claims` hash. */
export function applyClaims(view: NodeView, claims: Record<string, string>): void {
  for (const g of view.gpus) g.usedMb = 0;
  view.ports.clear();
  view.count = 0;
  for (const [field, value] of Object.entries(claims)) {
    if (field.startsWith("gpu:")) {
      const gpu = view.gpus.find((g) => g.index === Number(field.slice(4)));
      if (gpu) gpu.usedMb = Number(value);
    } else if (field.startsWith("port:")) {
      view.ports.add(Number(field.slice(5)));
    } else if (field === "count") {
      view.count = Number(value);
    }
  }
}

/** True when the node may receive new replicas at all. */
export function isSchedulable(view: NodeView): boolean {
  return view.state === "ready" && !view.cordoned && !view.draining;
}
