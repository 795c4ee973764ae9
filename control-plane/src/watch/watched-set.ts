import type { WatchCollection } from "@tei-fleet/core/watch";
import type { WatchEntry } from "@tei-fleet/proto/fleet/v1";

/**
 * A set of collections watched as one history (one version counter, one change log), as Redis
 * holds it: the route table is one (routes and unready instances); the model catalog and API
 * keys are meant to be others. Every script that writes one of its hashes records the change
 * with the change-log include (lua/change-log.lua).
 */
export interface WatchedSet {
  /** For logs, e.g. "routes". */
  readonly name: string;
  /** STRING: the history's epoch (see watch.proto, WatchPosition). */
  readonly epochKey: string;
  /** STRING: the counter every logged change increments. */
  readonly versionKey: string;
  /** STREAM: the change log, ids "<version>-0", fields c (collection) and k (key). */
  readonly logKey: string;
  readonly collections: readonly StoredCollection[];
}

/** One collection of a watched set: a hash of key → the entry's proto JSON. */
export interface StoredCollection {
  readonly collection: WatchCollection;
  readonly hashKey: string;
  /** Reads one stored value; undefined leaves it out (the decoder reports why). */
  decode(key: string, json: string): WatchEntry | undefined;
}
