import { deltaEvent, diffEntries, snapshotEvent, type WatchChange, type WatchMirror, watchKey } from "@tei-fleet/core/watch";
import type { Logger } from "pino";
import type { ChangeLog, ReadChange, SetChanges } from "./change-log.ts";
import type { ChangeWindow } from "./change-window.ts";

/** What a watched set's owner does when the follower applies changes (the route table: its unready entries). */
export interface ChangeHooks {
  /** After every load of the whole set. */
  loaded?(mirror: WatchMirror): void;
  /**
   * After changes were applied and before watchers hear of them: may write what they imply (an
   * instance that lost its last route gets its unready entry), so that watchers get both in one
   * delta. True when it wrote: the log is read again before watchers are told.
   */
  settle?(changes: WatchChange[], mirror: WatchMirror): Promise<boolean>;
}

/** What the follower works on and with. */
export interface ChangeFollowerOptions {
  log: ChangeLog;
  mirror: WatchMirror;
  window: ChangeWindow;
  hooks: ChangeHooks;
  logger: Logger;
  /** The set's name, for logs. */
  name: string;
  /** Changes read from the log at once. */
  batchSize: number;
}

/**
 * Brings a mirror and its change window up to a watched set in Redis: `load` takes the whole set
 * and the log; `poll` then reads only the log after the mirror's version, with the changed
 * entries' values (read-changes.lua), and applies them. It never applies what it cannot vouch
 * for: a missing version in the log (a change written without it, entries trimmed past the
 * mirror's version) makes it re-read the whole set and apply the difference; a new epoch loads
 * the set again, and a version that went back starts a new epoch first, so that positions of the
 * old history are never resumed.
 */
export interface ChangeFollower {
  load(): Promise<void>;
  /** Reads the log until up to date (or a bounded number of batches); true when there may be more at once. */
  poll(): Promise<boolean>;
}

/** Creates the follower. */
export function createChangeFollower(options: ChangeFollowerOptions): ChangeFollower {
  const { log, mirror, window, hooks, batchSize } = options;
  // Every line logged names the set.
  const logger = options.logger.child({ set: options.name });

  async function load(): Promise<void> {
    const snapshot = await log.snapshot(true);
    mirror.apply(snapshotEvent(snapshot.epoch, snapshot.version, snapshot.entries));
    window.reset(snapshot.version, snapshot.log);
    hooks.loaded?.(mirror);
  }

  /** The version the changes bring the mirror to, or undefined when their versions have a gap. */
  function reachedVersion(read: SetChanges): bigint | undefined {
    let expected = mirror.version + 1n;
    for (const change of read.changes) {
      if (change.version !== expected) return undefined;
      expected += 1n;
    }
    const last = expected - 1n;
    // A full batch may end before the counter; otherwise the log must reach it.
    return read.changes.length >= batchSize || last === read.version ? last : undefined;
  }

  function applyChanges(changes: readonly ReadChange[], version: bigint): WatchChange[] {
    const latest = new Map<string, ReadChange>();
    for (const change of changes) {
      window.add(change.version, change.collection, change.key);
      // Every value read is the one at the version read: one per entry is enough.
      if (change.collection !== undefined) latest.set(`${change.collection}\u0000${change.key}`, change);
    }
    const upserted = [];
    const removed = [];
    for (const change of latest.values()) {
      if (change.entry !== undefined) upserted.push(change.entry);
      else removed.push(watchKey(change.collection!, change.key));
    }
    const applied = mirror.apply(deltaEvent(mirror.version, version, upserted, removed));
    return applied.kind === "delta" ? applied.changes : [];
  }

  /** The log cannot say what changed: read the whole set and apply the difference. */
  async function resync(): Promise<WatchChange[]> {
    const snapshot = await log.snapshot(false);
    if (snapshot.epoch !== mirror.epoch || snapshot.version < mirror.version) {
      await load();
      return [];
    }
    const diff = diffEntries(mirror, snapshot.entries);
    logger.warn(
      { from: String(mirror.version), to: String(snapshot.version), changed: diff.upserted.length + diff.removed.length },
      "the change log does not say what changed (a write without a log entry, or entries trimmed): re-read the whole set",
    );
    const applied = mirror.apply(deltaEvent(mirror.version, snapshot.version, diff.upserted, diff.removed));
    const changes = applied.kind === "delta" ? applied.changes : [];
    // Watchers resuming from before the re-read get these entries, as changed at its version.
    for (const change of changes) window.add(snapshot.version, change.collection, change.key);
    return changes;
  }

  /** Reads the log until up to date; true when there may be more to read at once. */
  async function poll(): Promise<boolean> {
    let pending: WatchChange[] = [];
    let more = false;
    for (let round = 0; round < 8; round++) {
      const read = await log.changesAfter(mirror.version, batchSize);
      if (read.epoch !== mirror.epoch) {
        logger.info({ epoch: read.epoch, was: mirror.epoch }, "the watched set's history started again: loading it whole");
        await load();
        return false;
      }
      if (read.version < mirror.version) {
        logger.warn({ version: String(read.version), was: String(mirror.version) }, "the watched set's version went back: starting a new epoch");
        await log.newEpoch();
        await load();
        return false;
      }
      if (read.version === mirror.version && read.changes.length === 0) break;
      const reached = reachedVersion(read);
      if (reached === undefined) pending.push(...(await resync()));
      else pending.push(...applyChanges(read.changes, reached));
      more = reached !== undefined && read.changes.length >= batchSize;
      if (more) continue;
      if (hooks.settle === undefined || pending.length === 0) break;
      const wrote = await hooks.settle(pending, mirror);
      pending = [];
      if (!wrote) break;
    }
    // Stopped at the batch limit: what was applied is still the hooks' to see.
    if (hooks.settle !== undefined && pending.length > 0) await hooks.settle(pending, mirror);
    return more;
  }

  return { load, poll };
}
