/**
 * Feeds the model catalog and the API keys from the route watch (the collections
 * `catalog_alias`, `catalog_model`, `catalog_backend` and `api_key` of
 * RouteService.WatchRouteChanges, beside `route` and `unready_instance`): a snapshot replaces
 * the router's copies, a delta changes only the entries it names, so a catalog or key change
 * costs the router work in proportion to the change. Route entries are the route table's
 * business (route-watcher.ts) and are skipped here.
 */
import type { WatchChange, WatchMirror } from "@tei-fleet/core/watch";
import type { WatchedKeys } from "../admission/watched-keys.ts";
import type { CatalogView } from "./catalog-view.ts";

/** What one applied watch event did, as the feed takes it. */
export type WatchApplied = { readonly kind: "snapshot" } | { readonly kind: "delta"; readonly changes: readonly WatchChange[] };

/** Counts of what a feed applied, for a log line. */
export interface FeedCounts {
  catalog: number;
  keys: number;
}

/**
 * A watch hook keeping `catalog` and (when given) `keys` in step with the mirror; returns how
 * many catalog and key entries the event changed (a snapshot: how many it holds).
 */
export function createCatalogFeed(catalog: CatalogView, keys: WatchedKeys | null): (mirror: WatchMirror, applied: WatchApplied) => FeedCounts {
  return (mirror, applied) => {
    if (applied.kind === "snapshot") {
      catalog.replace(mirror.values("catalogAlias"), mirror.values("catalogModel"), mirror.values("catalogBackend"));
      keys?.replace(mirror.values("apiKey"));
      const s = catalog.sizes;
      return { catalog: s.aliases + s.models + s.backends, keys: mirror.size("apiKey") };
    }
    const counts: FeedCounts = { catalog: 0, keys: 0 };
    for (const c of applied.changes) {
      const after = c.after?.value;
      switch (c.collection) {
        case "catalogAlias":
          if (after?.case === "catalogAlias") catalog.putAlias(after.value);
          else catalog.removeAlias(c.key);
          counts.catalog++;
          break;
        case "catalogModel":
          if (after?.case === "catalogModel") catalog.putModel(after.value);
          else catalog.removeModel(c.key);
          counts.catalog++;
          break;
        case "catalogBackend":
          if (after?.case === "catalogBackend") catalog.putBackend(after.value);
          else catalog.removeBackend(c.key);
          counts.catalog++;
          break;
        case "apiKey":
          if (keys === null) break;
          if (after?.case === "apiKey") keys.upsert(after.value);
          else keys.remove(c.key);
          counts.keys++;
          break;
        default:
          break;
      }
    }
    return counts;
  };
}
