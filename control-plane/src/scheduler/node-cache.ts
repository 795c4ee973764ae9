import type { ChangesBus } from "./changes-bus.ts";
import type { SchedulerContext } from "./context.ts";
import { applyClaims, nodeViewFromRedis, type NodeView } from "./node-view.ts";

/** Options of the node cache. */
export interface NodeCacheOptions {
  /** Full reload of every node, catching anything a lost nudge missed. Default 10 000 ms. */
  fullRefreshMs?: number;
  /** Nodes nudged on the changes channel are reloaded together after this delay. Default 50 ms. */
  batchDelayMs?: number;
}

/**
 * The placement worker's in-memory copy of every node and its claims (Nomad's scheduler works on
 * a state snapshot the same way). Placement reads it without touching Redis; the claim script
 * checks against Redis, and a conflict reloads the node. Nudges on the changes channel
 * ("node:{name}", "assignments:{node}") mark nodes for a batched reload.
 */
export interface NodeCache {
  start(): Promise<void>;
  stop(): void;
  nodes(): Iterable<NodeView>;
  get(name: string): NodeView | undefined;
  /** Reloads the given nodes now (after a claim conflict, or before a decision that must be fresh). */
  reload(names: Iterable<string>): Promise<void>;
  /** Reloads every node. */
  refreshAll(): Promise<void>;
  /** Applies a claim this process just made, so its next decision sees it without a reload. */
  noteClaim(node: string, gpuIds: readonly number[], memoryMb: number, ports: readonly number[]): void;
}

/** Creates the cache; it listens on `bus` once started. */
export function createNodeCache(ctx: SchedulerContext, bus: ChangesBus, options: NodeCacheOptions = {}): NodeCache {
  const { redis, keys } = ctx;
  const fullRefreshMs = options.fullRefreshMs ?? 10_000;
  const batchDelayMs = options.batchDelayMs ?? 50;
  const views = new Map<string, NodeView>();
  const dirtyNodes = new Set<string>();
  const dirtyClaims = new Set<string>();
  let batchTimer: NodeJS.Timeout | undefined;
  let fullTimer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;

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
      if (!json) { views.delete(name); return; }
      const existing = views.get(name);
      const fresh = nodeViewFromRedis(json, claims);
      if (existing && existing.epoch === fresh.epoch && existing.state === fresh.state
        && existing.cordoned === fresh.cordoned && existing.draining === fresh.draining) {
        applyClaims(existing, claims);
      } else {
        views.set(name, fresh);
      }
    });
  }

  /** Reloads only the claims of known nodes: an assignment change leaves the record alone. */
  async function reloadClaims(names: string[]): Promise<void> {
    const known = names.filter((n) => views.has(n));
    if (known.length === 0) return;
    const pipe = redis.pipeline();
    for (const name of known) pipe.hgetall(keys.nodeClaims(name));
    const results = (await pipe.exec()) ?? [];
    known.forEach((name, i) => {
      const view = views.get(name);
      if (view) applyClaims(view, (results[i]?.[1] ?? {}) as Record<string, string>);
    });
  }

  function flushSoon() {
    if (batchTimer) return;
    batchTimer = setTimeout(() => {
      batchTimer = undefined;
      const full = [...dirtyNodes];
      const claimsOnly = [...dirtyClaims].filter((n) => !dirtyNodes.has(n));
      dirtyNodes.clear();
      dirtyClaims.clear();
      Promise.all([reload(full), reloadClaims(claimsOnly)])
        .catch((err) => ctx.logger.warn({ err: (err as Error).message }, "node cache reload failed"));
    }, batchDelayMs);
  }

  async function refreshAll(): Promise<void> {
    const names = await redis.zrange(keys.nodes(), 0, -1);
    for (const name of views.keys()) if (!names.includes(name)) views.delete(name);
    for (let i = 0; i < names.length; i += 500) await reload(names.slice(i, i + 500));
  }

  return {
    async start() {
      unsubscribe = bus.subscribe((message) => {
        const sep = message.indexOf(":");
        if (sep < 0) return;
        const kind = message.slice(0, sep);
        if (kind === "node") dirtyNodes.add(message.slice(sep + 1));
        else if (kind === "assignments") dirtyClaims.add(message.slice(sep + 1));
        else return;
        flushSoon();
      });
      await refreshAll();
      const tick = () => {
        fullTimer = setTimeout(() => {
          refreshAll().catch((err) => ctx.logger.warn({ err: (err as Error).message }, "node cache refresh failed"))
            .finally(() => { if (fullTimer) tick(); });
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
    get: (name) => views.get(name),
    reload,
    refreshAll,
    noteClaim(node, gpuIds, memoryMb, ports) {
      const view = views.get(node);
      if (!view) return;
      for (const id of gpuIds) {
        const gpu = view.gpus.find((g) => g.index === id);
        if (gpu) gpu.usedMb += memoryMb;
      }
      for (const p of ports) view.ports.add(p);
      view.count += 1;
    },
  };
}
