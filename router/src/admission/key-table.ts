/**
 * The API keys a router checks calls against, by hash: a map fed by whatever publishes keys (the
 * control plane's watch, a static keys file), changed key by key. Revoking a key is removing it;
 * a key whose limits change is replaced, and the rate limiter picks up the new limits on its
 * next call.
 */
import type { ApiKeyView } from "./api-key-view.ts";

/** The router's copy of the fleet's API keys. */
export class KeyTable {
  private readonly byHash = new Map<string, ApiKeyView>();
  /** Bumped on every change, so a cache of derived state can tell it is stale. */
  version = 0;

  /** Number of keys held. */
  get size(): number {
    return this.byHash.size;
  }

  /** The key with this hash, or undefined. */
  get(hash: string): ApiKeyView | undefined {
    return this.byHash.get(hash);
  }

  /** Adds a key or replaces the one with the same hash. */
  upsert(key: ApiKeyView): void {
    this.byHash.set(key.hash, key);
    this.version++;
  }

  /** Removes (revokes) the key with this hash; false when there was none. */
  remove(hash: string): boolean {
    const had = this.byHash.delete(hash);
    if (had) this.version++;
    return had;
  }

  /** Replaces every key (a snapshot: a keys file, or a watch that resynced). */
  replace(keys: Iterable<ApiKeyView>): void {
    this.byHash.clear();
    for (const k of keys) this.byHash.set(k.hash, k);
    this.version++;
  }
}
