import type { WatchCollection } from "@tei-fleet/core/watch";
import type { LoggedChange } from "./change-log.ts";

/**
 * The recent changes of a watched set in this process's memory, so that a watcher reconnecting
 * with its version is told only what changed since, without reading Redis: for each change the
 * version it made and the entry it touched. The window knows every change after its floor; a
 * position older than that gets a snapshot. It starts from the change log in Redis (so a
 * control plane that just started resumes routers that watched its predecessor) and keeps at
 * most `capacity` changes.
 */
export class ChangeWindow {
  #floor = 0n;
  #versions: bigint[] = [];
  #collections: Array<WatchCollection | undefined> = [];
  #keys: string[] = [];
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** The oldest version a watcher may resume from. */
  get floor(): bigint {
    return this.#floor;
  }

  /**
   * Starts again at `version` from `log` (the change log, oldest first): only the run of
   * consecutive versions that ends at `version` counts, since a missing version means a change
   * that was not logged, and nothing before it can be resumed.
   */
  reset(version: bigint, log: readonly LoggedChange[]): void {
    let start = log.length;
    let expected = version;
    while (start > 0 && log[start - 1]!.version === expected) {
      start -= 1;
      expected -= 1n;
    }
    const run = log.slice(start);
    this.#versions = run.map((c) => c.version);
    this.#collections = run.map((c) => c.collection);
    this.#keys = run.map((c) => c.key);
    this.#floor = expected;
    this.#trim();
  }

  /** Records a change that made `version` (versions only grow; several changes may share one). */
  add(version: bigint, collection: WatchCollection | undefined, key: string): void {
    this.#versions.push(version);
    this.#collections.push(collection);
    this.#keys.push(key);
    // Trimmed in bulk, so that adding stays O(1) amortised.
    if (this.#versions.length > 2 * this.#capacity) this.#trim();
  }

  /** True when every change after `version` is known here. */
  covers(version: bigint): boolean {
    return version >= this.#floor;
  }

  /** The entries changed after `version`, each once, oldest change first. */
  changedSince(version: bigint): Array<{ collection: WatchCollection; key: string }> {
    // Binary search for the first change after `version`.
    let lo = 0;
    let hi = this.#versions.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#versions[mid]! <= version) lo = mid + 1;
      else hi = mid;
    }
    const seen = new Set<string>();
    const out: Array<{ collection: WatchCollection; key: string }> = [];
    for (let i = lo; i < this.#versions.length; i++) {
      const collection = this.#collections[i];
      if (collection === undefined) continue;
      const key = this.#keys[i]!;
      const id = `${collection}\u0000${key}`;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push({ collection, key });
    }
    return out;
  }

  #trim(): void {
    const drop = this.#versions.length - this.#capacity;
    if (drop <= 0) return;
    // Changes of one version stay together: the floor is the last version dropped whole.
    let cut = drop;
    while (cut < this.#versions.length && this.#versions[cut] === this.#versions[cut - 1]) cut += 1;
    this.#floor = this.#versions[cut - 1]!;
    this.#versions = this.#versions.slice(cut);
    this.#collections = this.#collections.slice(cut);
    this.#keys = this.#keys.slice(cut);
  }
}
