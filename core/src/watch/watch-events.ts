/**
 * Builds the events of the watch protocol (watch.proto), for servers and for test stand-ins, so
 * that nobody assembles a oneof by hand.
 */
import { create } from "@bufbuild/protobuf";
import { type WatchEntry, WatchEntrySchema, type WatchEvent, WatchEventSchema, type WatchKey, WatchKeySchema } from "@tei-fleet/proto/fleet/v1";
import type { WatchCollection, WatchItem } from "./watch-collections.ts";

/** A WatchEntry holding one value of its collection. */
export function watchEntry(item: WatchItem): WatchEntry {
  return create(WatchEntrySchema, { value: item });
}

/** The WatchKey of a removed entry. */
export function watchKey(collection: WatchCollection, key: string): WatchKey {
  return create(WatchKeySchema, { key: { case: collection, value: key } });
}

/** Everything there is at `version` of history `epoch`. */
export function snapshotEvent(epoch: string, version: bigint, entries: WatchEntry[]): WatchEvent {
  return create(WatchEventSchema, { version, kind: { case: "snapshot", value: { epoch, entries } } });
}

/** The changes from `fromVersion` to `version`. */
export function deltaEvent(fromVersion: bigint, version: bigint, upserted: WatchEntry[], removed: WatchKey[]): WatchEvent {
  return create(WatchEventSchema, { version, kind: { case: "delta", value: { fromVersion, upserted, removed } } });
}

/** Nothing changed: the watcher is at `epoch` and `version`. */
export function keepaliveEvent(epoch: string, version: bigint): WatchEvent {
  return create(WatchEventSchema, { version, kind: { case: "keepalive", value: { epoch } } });
}
