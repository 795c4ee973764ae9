/**
 * The control plane's API keys, as the route watch delivers them (collection `api_key`,
 * RouterApiKey, key `id`), kept in the router's {@link KeyTable}: one mapping from the watched
 * entry to the admission's {@link ApiKeyView}s (the key's hash, and during a rotation's grace the
 * previous hash until it expires), and a feed that upserts and removes per delta and replaces
 * everything on a snapshot. Both hashes of a key count its limits under the key's id, so a
 * rotation does not double its rate. Nothing here logs: hashes are as secret as keys in logs.
 */
import type { RouterApiKey } from "@tei-fleet/proto/fleet/v1";
import { type ApiKeyView, DEFAULT_KEY_LIMITS, type KeyLimits } from "./api-key-view.ts";
import type { KeyTable } from "./key-table.ts";

/** The key's limits as the rate limiter takes them (unset fields take seed 004's defaults). */
function limitsOf(k: RouterApiKey): KeyLimits {
  const l = k.limits;
  const tpm = l?.tokensPerMinute ?? 0;
  return {
    requestsPerSecond: l !== undefined && l.requestsPerSecond > 0 ? l.requestsPerSecond : DEFAULT_KEY_LIMITS.requestsPerSecond,
    burst: l !== undefined && l.burst > 0 ? l.burst : DEFAULT_KEY_LIMITS.burst,
    tokensPerMinute: tpm > 0 ? tpm : undefined,
  };
}

/**
 * The views one watched key is checked by: its own hash, plus its previous hash while a
 * rotation's grace lasts (at `nowMs`; an expired grace gives none). Empty for an entry without
 * a hash (nothing to match).
 */
export function apiKeyViews(k: RouterApiKey, nowMs: number = Date.now()): ApiKeyView[] {
  const limits = limitsOf(k);
  const expires = Number(k.expiresAtMs);
  const base = {
    id: k.id,
    name: k.name || k.id,
    allowedModels: k.models.length === 0 ? ("all" as const) : [...k.models],
    limits,
    weight: k.weight > 0 ? k.weight : undefined,
  };
  const views: ApiKeyView[] = [];
  const hash = k.sha256.toLowerCase();
  if (hash !== "") views.push({ ...base, hash, expiresAtMs: expires > 0 ? expires : undefined });
  const previous = k.previousSha256.toLowerCase();
  const graceEnd = Number(k.previousExpiresAtMs);
  if (previous !== "" && previous !== hash && graceEnd > nowMs) {
    // The previous key works until its grace ends, and never past the key's own expiry.
    views.push({ ...base, hash: previous, expiresAtMs: expires > 0 ? Math.min(expires, graceEnd) : graceEnd });
  }
  return views;
}

/** Keeps a KeyTable in step with the watched `api_key` collection. */
export class WatchedKeys {
  private readonly table: KeyTable;
  private readonly clock: () => number;
  /** Each key id's hashes in the table, so a removal by id takes them all. */
  private readonly hashesById = new Map<string, string[]>();

  constructor(table: KeyTable, clock: () => number = Date.now) {
    this.table = table;
    this.clock = clock;
  }

  /** Number of watched keys (ids). */
  get size(): number {
    return this.hashesById.size;
  }

  /** A snapshot: the table holds exactly these keys afterwards. */
  replace(keys: Iterable<RouterApiKey>): void {
    this.hashesById.clear();
    const views: ApiKeyView[] = [];
    const now = this.clock();
    for (const k of keys) {
      const vs = apiKeyViews(k, now);
      this.hashesById.set(
        k.id,
        vs.map((v) => v.hash),
      );
      views.push(...vs);
    }
    this.table.replace(views);
  }

  /** An added or changed key (its hashes replace the ones it had). */
  upsert(k: RouterApiKey): void {
    const vs = apiKeyViews(k, this.clock());
    const hashes = vs.map((v) => v.hash);
    for (const h of this.hashesById.get(k.id) ?? []) if (!hashes.includes(h)) this.table.remove(h);
    for (const v of vs) this.table.upsert(v);
    this.hashesById.set(k.id, hashes);
  }

  /** A removed (revoked, deleted) key. */
  remove(id: string): void {
    for (const h of this.hashesById.get(id) ?? []) this.table.remove(h);
    this.hashesById.delete(id);
  }
}
