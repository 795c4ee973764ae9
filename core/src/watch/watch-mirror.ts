/**
 * A watcher's copy of a watched set (an informer's store): every entry of every collection,
 * with the epoch and version it stands at. It applies the events of watch.proto and refuses
 * what would leave it wrong: a delta that does not start at its version, a keepalive for
 * another version or epoch. Routers and agents hold one per watch; the control plane holds one
 * per process and fans its changes out.
 */
import type { WatchEntry, WatchEvent, WatchKey } from "@tei-fleet/proto/fleet/v1";
import { isWatchCollection, itemKey, type WatchCollection, type WatchValue } from "./watch-collections.ts";

/** An event that cannot be applied on what the mirror holds: the watcher needs a snapshot. */
export class WatchGapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WatchGapError";
  }
}

/** Where a mirror stands, as a watcher sends it when it (re)connects. */
export interface WatchPoint {
  epoch: string;
  version: bigint;
}

/** One entry a delta changed: its value before and after (undefined: absent). */
export interface WatchChange {
  collection: WatchCollection;
  key: string;
  before: WatchEntry | undefined;
  after: WatchEntry | undefined;
}

/** What applying one event did. */
export type AppliedEvent = { kind: "snapshot" } | { kind: "delta"; changes: WatchChange[] } | { kind: "keepalive" };

/** A copy of a watched set, kept by applying watch events in order. */
export class WatchMirror {
  #epoch = "";
  #version = 0n;
  #loaded = false;
  readonly #collections = new Map<WatchCollection, Map<string, WatchEntry>>();

  /** The history the version counts in; "" before the first snapshot. */
  get epoch(): string {
    return this.#epoch;
  }

  /** The version of what the mirror holds; 0 before the first snapshot. */
  get version(): bigint {
    return this.#version;
  }

  /** True once a snapshot was applied. */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** Where to resume from, or undefined when there is nothing to resume (take a snapshot). */
  position(): WatchPoint | undefined {
    return this.#loaded ? { epoch: this.#epoch, version: this.#version } : undefined;
  }

  /** One entry's value. */
  get<C extends WatchCollection>(collection: C, key: string): WatchValue<C> | undefined {
    return this.#collections.get(collection)?.get(key)?.value.value as WatchValue<C> | undefined;
  }

  /** One entry as received. */
  entry(collection: WatchCollection, key: string): WatchEntry | undefined {
    return this.#collections.get(collection)?.get(key);
  }

  /** Every value of a collection, in no particular order. */
  *values<C extends WatchCollection>(collection: C): IterableIterator<WatchValue<C>> {
    for (const entry of this.#collections.get(collection)?.values() ?? []) yield entry.value.value as WatchValue<C>;
  }

  /** Every key of a collection. */
  keys(collection: WatchCollection): IterableIterator<string> {
    return (this.#collections.get(collection) ?? new Map<string, WatchEntry>()).keys();
  }

  /** Number of entries of a collection. */
  size(collection: WatchCollection): number {
    return this.#collections.get(collection)?.size ?? 0;
  }

  /** Every entry of every collection (what a snapshot of this mirror would carry). */
  *entries(): IterableIterator<WatchEntry> {
    for (const entries of this.#collections.values()) yield* entries.values();
  }

  /**
   * Applies one event. A snapshot replaces everything; a delta must start at this mirror's
   * version; a keepalive must name its epoch and version. Throws WatchGapError otherwise,
   * leaving the mirror as it was (a router keeps serving from it until the snapshot).
   */
  apply(event: WatchEvent): AppliedEvent {
    const kind = event.kind;
    switch (kind.case) {
      case "snapshot":
        this.#collections.clear();
        for (const entry of kind.value.entries) this.#put(entry);
        this.#epoch = kind.value.epoch;
        this.#version = event.version;
        this.#loaded = true;
        return { kind: "snapshot" };
      case "delta": {
        if (!this.#loaded || kind.value.fromVersion !== this.#version) {
          throw new WatchGapError(`a delta from version ${kind.value.fromVersion} does not apply on version ${this.#loaded ? this.#version : "(none)"}`);
        }
        const changes: WatchChange[] = [];
        for (const key of kind.value.removed) this.#remove(key, changes);
        for (const entry of kind.value.upserted) this.#put(entry, changes);
        this.#version = event.version;
        return { kind: "delta", changes };
      }
      default: {
        // A keepalive, or an event of a kind this build does not know: either way the server
        // says the watcher is at event.version, which it must be.
        const epoch = kind.case === "keepalive" ? kind.value.epoch : this.#epoch;
        if (!this.#loaded || epoch !== this.#epoch || event.version !== this.#version) {
          throw new WatchGapError(`the server is at ${epoch}/${event.version}, this copy at ${this.#epoch || "(none)"}/${this.#version}`);
        }
        return { kind: "keepalive" };
      }
    }
  }

  #put(entry: WatchEntry, changes?: WatchChange[]): void {
    const item = entry.value;
    // A collection a newer server added: not ours to hold.
    if (item.case === undefined || !isWatchCollection(item.case)) return;
    let entries = this.#collections.get(item.case);
    if (entries === undefined) {
      entries = new Map();
      this.#collections.set(item.case, entries);
    }
    const key = itemKey(item);
    changes?.push({ collection: item.case, key, before: entries.get(key), after: entry });
    entries.set(key, entry);
  }

  #remove(watchKey: WatchKey, changes: WatchChange[]): void {
    const { case: collection, value: key } = watchKey.key;
    if (collection === undefined || !isWatchCollection(collection)) return;
    const entries = this.#collections.get(collection);
    const before = entries?.get(key);
    if (before === undefined) return;
    entries?.delete(key);
    changes.push({ collection, key, before, after: undefined });
  }
}
