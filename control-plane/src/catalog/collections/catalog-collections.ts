/**
 * The catalog's and API keys' collections as Redis holds them, and as the route table's watched
 * set reads them. A folder of its own, depending on the store and the watch only, so that the
 * route table (routes/) can include them without depending on the catalog's API surfaces.
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { type WatchCollection, type WatchItem, watchEntry } from "@tei-fleet/core/watch";
import { CatalogAliasSchema, CatalogBackendSchema, CatalogModelSchema, RouterApiKeySchema } from "@tei-fleet/proto/fleet/v1";
import type { KeySchema } from "../../store/keys.ts";
import { decodeRecord } from "../../store/record-codec.ts";
import type { StoredCollection } from "../../watch/watched-set.ts";

/** How one catalog collection is stored: its hash, its name in the change log, its message. */
export interface CatalogCollection<S extends DescMessage> {
  /** The watch collection (and change-log name), e.g. "catalogAlias". */
  readonly collection: WatchCollection;
  readonly hashKey: string;
  /** ZSET of the hash's keys, for paged lists. */
  readonly indexKey: string;
  readonly schema: S;
  /** The entry's revision (for a backend, its `backend.revision`). */
  revisionOf(entry: MessageShape<S>): bigint;
}

/** The catalog's three collections as Redis holds them. */
export interface CatalogCollections {
  alias: CatalogCollection<typeof CatalogAliasSchema>;
  model: CatalogCollection<typeof CatalogModelSchema>;
  /** Stored as CatalogBackend: the backend and its upstream key, as routers receive it. */
  backend: CatalogCollection<typeof CatalogBackendSchema>;
}

/** The catalog's collections under `keys`. */
export function catalogCollections(keys: KeySchema): CatalogCollections {
  return {
    alias: {
      collection: "catalogAlias",
      hashKey: keys.catalogAliases(),
      indexKey: keys.catalogIndex("catalogAlias"),
      schema: CatalogAliasSchema,
      revisionOf: (a) => a.revision,
    },
    model: {
      collection: "catalogModel",
      hashKey: keys.catalogModels(),
      indexKey: keys.catalogIndex("catalogModel"),
      schema: CatalogModelSchema,
      revisionOf: (m) => m.revision,
    },
    backend: {
      collection: "catalogBackend",
      hashKey: keys.catalogBackends(),
      indexKey: keys.catalogIndex("catalogBackend"),
      schema: CatalogBackendSchema,
      revisionOf: (b) => b.backend?.revision ?? 0n,
    },
  };
}

/**
 * One stored collection of the route table's watched set (watch/watched-set.ts): the hash, and
 * a decoder that leaves an unreadable value out (the next write of the entry replaces it).
 */
export function watchedCollection<S extends DescMessage>(
  stored: Pick<CatalogCollection<S>, "collection" | "hashKey" | "schema">,
  item: (value: MessageShape<S>) => WatchItem,
): StoredCollection {
  return {
    collection: stored.collection,
    hashKey: stored.hashKey,
    decode(_key, json) {
      const decoded = decodeRecord(stored.schema, json);
      return decoded.kind === "unreadable" ? undefined : watchEntry(item(decoded.message));
    },
  };
}

/**
 * The catalog's collections in the route table's watched set, so that a router's one
 * WatchRouteChanges stream carries routes and catalog at one version. Backends go out as
 * stored, with their upstream keys: the route watch is served to the join (or admin) token only.
 */
export function catalogWatchCollections(keys: KeySchema): StoredCollection[] {
  const c = catalogCollections(keys);
  return [
    watchedCollection(c.alias, (value) => ({ case: "catalogAlias", value })),
    watchedCollection(c.model, (value) => ({ case: "catalogModel", value })),
    watchedCollection(c.backend, (value) => ({ case: "catalogBackend", value })),
  ];
}

/**
 * API keys as routers check them (RouterApiKey: hashes, allowed models, limits, expiry), a
 * collection of the route table's watched set: a new key, a change of its limits, a rotation or
 * a revocation is one delta to every router, and a router keeps checking keys from its last copy
 * while the control plane is away.
 */
export function keyWatchCollection(keys: KeySchema): StoredCollection {
  return watchedCollection({ collection: "apiKey", hashKey: keys.apiKeysRouter(), schema: RouterApiKeySchema }, (value) => ({ case: "apiKey", value }));
}
