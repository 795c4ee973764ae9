/**
 * The collections a watch can carry (tei_fleet.v1.WatchEntry's cases) and what names an entry in
 * each. This is the one place that knows the collections: the mirror, the server's change log and
 * the diff are generic over it, so a new collection (the model catalog, API keys) is a new case
 * in watch.proto plus one line here.
 */
import type { WatchEntry, WatchKey } from "@tei-fleet/proto/fleet/v1";

/** A collection's name: a case of WatchEntry's `value`, e.g. "route", "unreadyInstance". */
export type WatchCollection = NonNullable<WatchEntry["value"]["case"]>;

/** The message of a collection's entries, e.g. `WatchValue<"route">` is Route. */
export type WatchValue<C extends WatchCollection> = Extract<WatchEntry["value"], { case: C }>["value"];

/** One entry of one collection, as WatchEntry's oneof holds it. */
export type WatchItem = Exclude<WatchEntry["value"], { case: undefined }>;

// WatchKey names removed entries with the same cases as WatchEntry; if watch.proto ever lists a
// collection in one and not the other, this line stops the build.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const COLLECTIONS_AGREE: Same<WatchCollection, NonNullable<WatchKey["key"]["case"]>> = true;
void COLLECTIONS_AGREE;

/** Each collection's key: the field of its value that names the entry (watch.proto says the same). */
const KEY_OF: { readonly [C in WatchCollection]: (value: WatchValue<C>) => string } = {
  route: (route) => route.assignmentId,
  unreadyInstance: (unready) => unready.instanceName,
  catalogAlias: (alias) => alias.name,
  catalogModel: (model) => model.modelId,
  catalogBackend: (backend) => backend.backend?.name ?? "",
  apiKey: (key) => key.id,
};

/** Every collection, in watch.proto's order. */
export const WATCH_COLLECTIONS: readonly WatchCollection[] = Object.keys(KEY_OF) as WatchCollection[];

/** True for a collection this build knows (a newer server may send others; they are skipped). */
export function isWatchCollection(name: string | undefined): name is WatchCollection {
  return name !== undefined && Object.hasOwn(KEY_OF, name);
}

/** The key of one entry. */
export function itemKey(item: WatchItem): string {
  return (KEY_OF[item.case] as (value: WatchItem["value"]) => string)(item.value);
}
