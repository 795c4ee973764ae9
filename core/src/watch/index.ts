/**
 * The watch protocol's shared side (`@tei-fleet/core/watch`): the collections and their keys, a
 * mirror that applies snapshots and deltas and refuses gaps, a follower that keeps one in step
 * with a streaming watch across reconnects, and builders and a diff for servers. Routers follow
 * the route table with it; the agents' and the catalog's watches are meant to use it as well.
 */
export {
  isWatchCollection,
  itemKey,
  WATCH_COLLECTIONS,
  type WatchCollection,
  type WatchItem,
  type WatchValue,
} from "./watch-collections.ts";
export { diffEntries, type WatchDiff } from "./watch-diff.ts";
export { deltaEvent, keepaliveEvent, snapshotEvent, watchEntry, watchKey } from "./watch-events.ts";
export { followWatch, type WatchFollower, type WatchFollowerOptions } from "./watch-follower.ts";
export { type AppliedEvent, type WatchChange, WatchGapError, WatchMirror, type WatchPoint } from "./watch-mirror.ts";
