/**
 * The delta between what a mirror holds and a full list of entries: how a server that had to
 * re-read its whole set (it found a gap in its change log) still sends watchers only what
 * changed, and how a stand-in server turns whole tables into deltas.
 */
import { equals } from "@bufbuild/protobuf";
import { type WatchEntry, WatchEntrySchema, type WatchKey } from "@tei-fleet/proto/fleet/v1";
import { isWatchCollection, itemKey, WATCH_COLLECTIONS } from "./watch-collections.ts";
import { watchKey } from "./watch-events.ts";
import type { WatchMirror } from "./watch-mirror.ts";

/** What turns `mirror`'s content into `entries`: the entries that differ, the keys that went. */
export interface WatchDiff {
  upserted: WatchEntry[];
  removed: WatchKey[];
}

/** Compares `mirror` with `entries` (every entry of every collection, each key once). */
export function diffEntries(mirror: WatchMirror, entries: Iterable<WatchEntry>): WatchDiff {
  const upserted: WatchEntry[] = [];
  const seen = new Map<string, Set<string>>();
  for (const entry of entries) {
    const item = entry.value;
    if (item.case === undefined || !isWatchCollection(item.case)) continue;
    const key = itemKey(item);
    const keys = seen.get(item.case) ?? new Set<string>();
    seen.set(item.case, keys);
    keys.add(key);
    const held = mirror.entry(item.case, key);
    if (held === undefined || !equals(WatchEntrySchema, held, entry)) upserted.push(entry);
  }
  const removed: WatchKey[] = [];
  for (const collection of WATCH_COLLECTIONS) {
    const keys = seen.get(collection);
    for (const key of mirror.keys(collection)) if (!keys?.has(key)) removed.push(watchKey(collection, key));
  }
  return { upserted, removed };
}
