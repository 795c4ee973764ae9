import { deltaEvent, snapshotEvent, WatchMirror, type WatchPoint, watchKey } from "@tei-fleet/core/watch";
import type { WatchEvent } from "@tei-fleet/proto/fleet/v1";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { type ChangeHooks, createChangeFollower } from "./change-follower.ts";
import { createChangeLog } from "./change-log.ts";
import { ChangeWindow } from "./change-window.ts";
import type { WatchedSet } from "./watched-set.ts";

/** What a watched set's owner does alongside the cache (the route table: its unready entries). */
export interface WatchCacheHooks extends ChangeHooks {
  /** The cache started following (its first holder came) or stopped (the last one left). */
  started?(mirror: WatchMirror): void;
  stopped?(): void;
}

/** Options of {@link createWatchCache}. */
export interface WatchCacheOptions {
  /** A connection of the cache's own choosing; the read-changes script is defined on it. */
  redis: Redis;
  set: WatchedSet;
  /** Subscribes to nudges that the set may have changed (pub/sub: some get lost, polls cover them). */
  nudges(listener: () => void): () => void;
  logger: Logger;
  hooks?: WatchCacheHooks;
  /** Longest time between two reads of the change log. Default 1000 ms. */
  pollMs?: number;
  /** Changes read from the log at once. Default 1000. */
  batchSize?: number;
  /** Changes kept in memory for watchers that resume. Default 20 000. */
  windowSize?: number;
  /** How long the cache keeps following after its last holder left, so reconnects find it warm. Default 30 000 ms. */
  lingerMs?: number;
}

/**
 * One process's copy of a watched set, following its change log, and what every watcher of it in
 * this process is served from (one reader, however many watchers: Kubernetes' watch cache). It
 * loads the set once, then reads only the log after its version, with the changed entries'
 * values, in one atomic script (read-changes.lua); each watcher is then sent the changes since
 * its own version, built once per version from the in-memory window and shared by all watchers
 * at that version. A missing version in the log (a change written without it) or a log trimmed
 * past the cache's version makes it re-read the whole set and send watchers the difference; a
 * new epoch or a version that went back makes it load again and send snapshots.
 */
export interface WatchCache {
  readonly mirror: WatchMirror;
  /** Keeps the cache following while `signal` is not aborted; the first holder starts it. */
  hold(signal: AbortSignal): void;
  /** Resolves once the set is loaded (rejects when that failed: Redis unreachable, say). */
  ready(): Promise<void>;
  /** Resolves after a read of the log that began after this call. */
  refresh(): Promise<void>;
  /**
   * Resolves when no read is applying changes: the mirror is what watchers may see (a batch is
   * settled, its implied writes joined). Call eventFor right after, without awaiting in between.
   */
  settled(): Promise<void>;
  /** The event that brings a watcher at `position` up to this cache; undefined when it is. */
  eventFor(position: WatchPoint | undefined): WatchEvent;
  eventFor(position: WatchPoint): WatchEvent | undefined;
  /** Resolves once the cache is no longer at `position`, after `timeoutMs`, or on abort. */
  changed(position: WatchPoint, timeoutMs: number, signal: AbortSignal): Promise<void>;
  /** Stops following (whoever still holds it). */
  close(): Promise<void>;
}

/** Creates the cache of one watched set; it starts with its first holder. */
export function createWatchCache(options: WatchCacheOptions): WatchCache {
  const { set, logger, hooks = {} } = options;
  const log = createChangeLog(options.redis, set);
  const pollMs = options.pollMs ?? 1000;
  const lingerMs = options.lingerMs ?? 30_000;
  const mirror = new WatchMirror();
  const window = new ChangeWindow(options.windowSize ?? 20_000);
  const follower = createChangeFollower({ log, mirror, window, hooks, logger, name: set.name, batchSize: options.batchSize ?? 1000 });
  let loaded = false;
  let holders = 0;
  let lingerUntil = 0;
  let closed = false;
  let running: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let nudged = false;
  /** Callers of ready()/refresh() waiting for the next read to finish. */
  let waiting: Array<{ resolve: () => void; reject: (err: Error) => void; needsRead: boolean }> = [];
  const listeners = new Set<() => void>();
  // While a read applies changes (and its hooks settle them), the mirror is not for watchers.
  let busy = false;
  const settledWaiters: Array<() => void> = [];
  // Events are built once per version and shared by every watcher at the same position.
  const built = new Map<string, WatchEvent>();

  const poke = () => {
    nudged = true;
    wake?.();
  };
  const moved = () => {
    built.clear();
    for (const listener of [...listeners]) listener();
  };

  /** Runs a step that changes the mirror; watchers hear of it once, when it is settled. */
  async function mutate<T>(step: () => Promise<T>): Promise<T> {
    const before = `${mirror.epoch}/${mirror.version}`;
    busy = true;
    try {
      return await step();
    } finally {
      busy = false;
      for (const release of settledWaiters.splice(0)) release();
      if (`${mirror.epoch}/${mirror.version}` !== before) moved();
      else built.clear();
    }
  }

  async function run(): Promise<void> {
    const unsubscribe = options.nudges(poke);
    hooks.started?.(mirror);
    try {
      while (!closed && (holders > 0 || Date.now() < lingerUntil)) {
        nudged = false;
        const served = waiting;
        waiting = [];
        let more = false;
        try {
          more = await mutate(async () => {
            if (loaded) return follower.poll();
            await follower.load();
            loaded = true;
            return false;
          });
          for (const w of served) w.resolve();
        } catch (err) {
          logger.warn({ set: set.name, err: (err as Error).message }, "reading the watched set failed; serving what this process has");
          for (const w of served) {
            if (loaded && !w.needsRead) w.resolve();
            else w.reject(err as Error);
          }
        }
        if (more || nudged || waiting.length > 0 || closed) continue;
        const wait = holders > 0 ? pollMs : Math.max(1, Math.min(pollMs, lingerUntil - Date.now()));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          timer.unref();
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    } finally {
      unsubscribe();
      // What the window holds may miss changes made while nobody followed: load again next time.
      loaded = false;
      running = undefined;
      for (const w of waiting.splice(0)) w.reject(new Error(`the ${set.name} watch stopped`));
      hooks.stopped?.();
    }
  }

  const ensureRunning = () => {
    if (!running && !closed) running = run();
  };

  /** The event `id` of the current version, built on first use. */
  const memo = (id: string, build: () => WatchEvent): WatchEvent => {
    let event = built.get(id);
    if (event === undefined) {
      event = build();
      built.set(id, event);
    }
    return event;
  };
  const snapshotNow = () => memo(`snapshot ${mirror.version}`, () => snapshotEvent(mirror.epoch, mirror.version, [...mirror.entries()]));

  function eventFor(position: WatchPoint | undefined): WatchEvent | undefined {
    if (position === undefined || position.epoch !== mirror.epoch || position.version > mirror.version || !window.covers(position.version)) {
      return snapshotNow();
    }
    if (position.version === mirror.version) return undefined;
    return memo(`delta ${position.version}`, () => {
      const upserted = [];
      const removed = [];
      for (const { collection, key } of window.changedSince(position.version)) {
        const entry = mirror.entry(collection, key);
        if (entry !== undefined) upserted.push(entry);
        else removed.push(watchKey(collection, key));
      }
      return deltaEvent(position.version, mirror.version, upserted, removed);
    });
  }

  return {
    mirror,
    hold(signal) {
      if (signal.aborted) return;
      holders += 1;
      signal.addEventListener(
        "abort",
        () => {
          holders -= 1;
          if (holders === 0) lingerUntil = Date.now() + lingerMs;
        },
        { once: true },
      );
      ensureRunning();
    },
    ready() {
      if (loaded) return Promise.resolve();
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject, needsRead: false });
        ensureRunning();
        wake?.();
      });
    },
    settled() {
      return busy ? new Promise((resolve) => settledWaiters.push(resolve)) : Promise.resolve();
    },
    refresh() {
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject, needsRead: true });
        ensureRunning();
        wake?.();
      });
    },
    eventFor: eventFor as WatchCache["eventFor"],
    changed(position, timeoutMs, signal) {
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
          signal.removeEventListener("abort", done);
          resolve();
        };
        const check = () => {
          if (mirror.epoch !== position.epoch || mirror.version !== position.version) done();
        };
        const timer = setTimeout(done, timeoutMs);
        timer.unref();
        listeners.add(check);
        signal.addEventListener("abort", done, { once: true });
        if (signal.aborted) done();
        else check();
      });
    },
    async close() {
      closed = true;
      wake?.();
      await running;
    },
  };
}
