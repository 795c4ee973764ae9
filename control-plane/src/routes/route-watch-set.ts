import { watchEntry } from "@tei-fleet/core/watch";
import { type Route, RouteSchema, type UnreadyInstance, UnreadyInstanceSchema } from "@tei-fleet/proto/fleet/v1";
import { catalogWatchCollections, keyWatchCollection } from "../catalog/collections/catalog-collections.ts";
import type { KeySchema } from "../store/keys.ts";
import { decodeRecord } from "../store/record-codec.ts";
import type { RecordProblemReporter } from "../store/record-problems.ts";
import type { WatchedSet } from "../watch/watched-set.ts";

/** Reads the stored values of the route table's two collections. */
export interface RouteDecoders {
  /** A `routes` value; undefined (and reported) when it cannot be decoded, so it is left out. */
  route(id: string, json: string): Route | undefined;
  /** A `routes-unready` value; undefined when it cannot be decoded (the next reconcile rewrites it). */
  unready(name: string, json: string): UnreadyInstance | undefined;
}

/** The decoders, reporting unreadable routes through `report`. */
export function routeDecoders(report: RecordProblemReporter): RouteDecoders {
  return {
    route(id, json) {
      const decoded = decodeRecord(RouteSchema, json);
      if (decoded.kind !== "unreadable") return decoded.message;
      report("", json, { kind: "route-unreadable", id, error: decoded.error });
      return undefined;
    },
    unready(_name, json) {
      const decoded = decodeRecord(UnreadyInstanceSchema, json);
      return decoded.kind === "unreadable" ? undefined : decoded.message;
    },
  };
}

/**
 * The route table as a watched set (watch.proto, collections `route` and `unreadyInstance`, plus
 * the catalog's `catalogAlias`, `catalogModel`, `catalogBackend` and the routers' `apiKey`):
 * `routes` (assignment id → Route) and `routes-unready` (instance name → UnreadyInstance), one
 * version counter and one change log, so that a route leaving and its instance's unready entry
 * arriving are one history, and one delta.
 */
export function routeWatchedSet(keys: KeySchema, decoders: RouteDecoders): WatchedSet {
  return {
    name: "routes",
    epochKey: keys.routesEpoch(),
    versionKey: keys.routesVersion(),
    logKey: keys.routesLog(),
    collections: [
      {
        collection: "route",
        hashKey: keys.routes(),
        decode(id, json) {
          const route = decoders.route(id, json);
          return route && watchEntry({ case: "route", value: route });
        },
      },
      {
        collection: "unreadyInstance",
        hashKey: keys.routesUnready(),
        decode(name, json) {
          const unready = decoders.unready(name, json);
          return unready && watchEntry({ case: "unreadyInstance", value: unready });
        },
      },
      // The model catalog and API keys ride in the same history, so one router stream carries
      // routes, catalog and keys at one version (catalog/collections/catalog-collections.ts).
      ...catalogWatchCollections(keys),
      keyWatchCollection(keys),
    ],
  };
}
