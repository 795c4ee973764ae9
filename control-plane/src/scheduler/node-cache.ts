import type { ChangesBus } from "../store/changes-bus.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import { GpuIndex } from "./gpu-index.ts";
import { applyClaims, isSchedulable, type NodeView, nodeViewFromRedis } from "./node-view.ts";
import { tieHash } from "./placement.ts";

/** Options of the node cache. */
export interface NodeCacheOptions {
  /** Full reload of every node and its claims. Default 5000 ms. */
  fullRefreshMs?: number;
  /** Called when a node becomes schedulable in this view (joined, returned, uncordoned). */
  onSchedulable?: (node: string) => void;
  /** Nodes nudged on the changes channel ("node:{name}") are reloaded together after this delay. Default 50 ms. */
  batchDelayMs?: number;
}

/**
 * The placement worker's in-memory copy of every node and its claims (Nomad's scheduler works on
 * a state snapshot the same way). Placement reads it without touching Redis; the claim script
 * checks against Redis and answers a conflict with the node's current claims, which replace the
 * view's. Node records nudged on the changes channel ("node:{name}": joined, lost, cordoned) are
 * reloaded within `batchDelayMs`.
 *
 * Other processes' claims are deliberately not followed claim by claim: they reach the view at
 * the next full refresh or with a conflict. Following them made every worker see the others'
 * half-filled GPUs as the best fit and race for the same GPUs and ports (measured: 3,452
 * conflicts for 8,000 placements with two workers). Unaware of each other's fresh claims, workers
 * fill different GPUs; a rare collision costs one retry. Releases made by this process reload the
 * node at once (see instance-reconciler), and pending instances refresh the whole view first.
 */
export interface NodeCache {
  start(): Promise<void>;
  stop(): void;
  nodes(): Iterable<NodeView>;
  /** The same as an array (rebuilt only when nodes come or go). */
  list(): NodeView[];
  /** The same GPUs sorted by free memory, for binpack's best fit. */
  readonly index: GpuIndex;
  get(name: string): NodeView | undefined;
  /** Reloads the given nodes now (after a claim conflict, or before a decision that must be fresh). */
  reload(names: Iterable<string>): Promise<void>;
  /** Reloads every node. */
  refreshAll(): Promise<void>;
  /**
   * Books a decision in the view at once, before its claim script runs, so that concurrent jobs of
   * this process never pick the same GPU memory or port. Reloads keep pending reservations.
   */
  reserve(node: string, gpuIds: readonly number[], memoryMb: number, ports: readonly number[]): Reservation;
  /** The claim committed: the reservation is now part of Redis' claims. */
  settle(reservation: Reservation): void;
  /** The claim failed: give the reservation back and take Redis' claims for the node. */
  cancel(reservation: Reservation, claims?: Record<string, string>): void;
}

/** A claim decided in this process and not yet confirmed by Redis. */
export interface Reservation {
  node: string;
  gpuIds: readonly number[];
  memoryMb: number;
  ports: readonly number[];
}

/** Creates the cache; it listens on `bus` once started. */
export function createNodeCache(ctx: SchedulerContext, bus: ChangesBus, options: NodeCacheOptions = {}, salt = 0): NodeCache {
  const { redis, keys } = ctx;
  const fullRefreshMs = options.fullRefreshMs ?? 5000;
  const batchDelayMs = options.batchDelayMs ?? 50;
  const views = new Map<string, NodeView>();
  const dirtyNodes = new Set<string>();
  let batchTimer: NodeJS.Timeout | undefined;
  let fullTimer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  const pending = new Map<string, Set<Reservation>>();
  const index = new GpuIndex((name) => tieHash(name, salt));
  let listed: NodeView[] | undefined;

  function book(view: NodeView, r: Reservation, sign: 1 | -1) {
    for (const id of r.gpuIds) {
      const gpu = view.gpus.find((g) => g.index === id);
      if (gpu) gpu.usedMb += sign * r.memoryMb;
    }
    for (const p of r.ports) {
      if (sign > 0) view.ports.add(p);
      else view.ports.delete(p);
    }
    view.count += sign;
    index.update(view);
  }

  /** Redis' claims for a view, plus what this process reserved and Redis has not confirmed yet. */
  function setClaims(view: NodeView, claims: Record<string, string>) {
    applyClaims(view, claims);
    for (const r of pending.get(view.name) ?? []) {
      if (!r.ports.some((p) => claims[`port:${p}`] !== undefined)) book(view, r, 1);
    }
    index.update(view);
  }

  async function reload(names: Iterable<string>): Promise<void> {
    const list = [...names];
    if (list.length === 0) return;
    const pipe = redis.pipeline();
    for (const name of list) {
      pipe.get(keys.node(name));
      pipe.hgetall(keys.nodeClaims(name));
    }
    const results = (await pipe.exec()) ?? [];
    list.forEach((name, i) => {
      const json = results[i * 2]?.[1] as string | null;
      const claims = (results[i * 2 + 1]?.[1] ?? {}) as Record<string, string>;
      if (!json) {
        const gone = views.get(name);
        if (gone) index.remove(gone);
        views.delete(name);
        listed = undefined;
        return;
      }
      const existing = views.get(name);
      const fresh = nodeViewFromRedis(json, claims);
      if (
        existing &&
        existing.epoch === fresh.epoch &&
        existing.state === fresh.state &&
        existing.cordoned === fresh.cordoned &&
        existing.draining === fresh.draining
      ) {
        setClaims(existing, claims);
      } else {
        if (existing) index.remove(existing);
        setClaims(fresh, claims);
        views.set(name, fresh);
        listed = undefined;
        if (isSchedulable(fresh) && !(existing && isSchedulable(existing))) options.onSchedulable?.(name);
      }
    });
  }

  function flushSoon() {
    if (batchTimer) return;
    batchTimer = setTimeout(() => {
      batchTimer = undefined;
      const full = [...dirtyNodes];
      dirtyNodes.clear();
      reload(full).catch((err) => ctx.logger.warn({ err: (err as Error).message }, "node cache reload failed"));
    }, batchDelayMs);
  }

  async function refreshAll(): Promise<void> {
    const names = await redis.zrange(keys.nodes(), 0, -1);
    const present = new Set(names);
    for (const [name, view] of views) {
      if (!present.has(name)) {
        index.remove(view);
        views.delete(name);
        listed = undefined;
      }
    }
    for (let i = 0; i < names.length; i += 500) await reload(names.slice(i, i + 500));
  }

  return {
    async start() {
      unsubscribe = bus.subscribe((message) => {
        const sep = message.indexOf(":");
        if (sep < 0) return;
        if (message.slice(0, sep) === "node") {
          dirtyNodes.add(message.slice(sep + 1));
          flushSoon();
        }
      });
      await refreshAll();
      const tick = () => {
        fullTimer = setTimeout(() => {
          refreshAll()
            .catch((err) => ctx.logger.warn({ err: (err as Error).message }, "node cache refresh failed"))
            .finally(() => {
              if (fullTimer) tick();
            });
        }, fullRefreshMs);
      };
      tick();
    },
    stop() {
      unsubscribe?.();
      if (batchTimer) clearTimeout(batchTimer);
      if (fullTimer) clearTimeout(fullTimer);
      batchTimer = undefined;
      fullTimer = undefined;
    },
    nodes: () => views.values(),
    list: () => (listed ??= [...views.values()]),
    index,
    get: (name) => views.get(name),
    reload,
    refreshAll,
    reserve(node, gpuIds, memoryMb, ports) {
      const r: Reservation = { node, gpuIds, memoryMb, ports };
      const view = views.get(node);
      if (view) book(view, r, 1);
      let set = pending.get(node);
      if (!set) pending.set(node, (set = new Set()));
      set.add(r);
      return r;
    },
    settle(r) {
      const set = pending.get(r.node);
      set?.delete(r);
      if (set?.size === 0) pending.delete(r.node);
    },
    cancel(r, claims) {
      const set = pending.get(r.node);
      set?.delete(r);
      if (set?.size === 0) pending.delete(r.node);
      const view = views.get(r.node);
      if (!view) return;
      if (claims) setClaims(view, claims);
      else book(view, r, -1);
    },
  };
}
