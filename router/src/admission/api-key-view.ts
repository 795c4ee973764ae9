/**
 * What a router knows of an API key: enough to check a call (the key's hash, its models, its
 * limits, its expiry) and nothing to recover the key from. The control plane stores keys hashed
 * the same way (core's `hashApiKey`, the one rule both apply) and will send routers these views
 * through the watch; a static keys file gives them today.
 *
 * The view is the router's own: core/src/keys/ holds the REST bodies (snake_case, `models: []`
 * for every model, `tokens_per_minute: 0` for none), which the watch's mapping turns into this.
 */
import { hashApiKey } from "@tei-fleet/core/keys";

export { hashApiKey };

/** A key's limits, enforced fleet-wide (each router enforces its share, rate-share-source.ts). */
export interface KeyLimits {
  /** Sustained requests per second. Default 80 (seed 004's governor). */
  readonly requestsPerSecond: number;
  /** Requests that may come at once above the sustained rate. Default 50. */
  readonly burst: number;
  /** Tokens per minute (TEI's counts, charged after each answer); undefined: no token limit. */
  readonly tokensPerMinute?: number | undefined;
}

/** The limits of a key that sets none (seed 004: 80 requests/s with a burst of 50). */
export const DEFAULT_KEY_LIMITS: KeyLimits = { requestsPerSecond: 80, burst: 50 };

/** One API key as routers see it. */
export interface ApiKeyView {
  /** SHA-256 of the key string, lowercase hex ({@link hashApiKey}); never logged. */
  readonly hash: string;
  /**
   * The key's id, when it has one: what its limits are counted under, so that a rotated key's
   * two hashes (old and new, during the rotation's grace) share one limit. Default the hash.
   */
  readonly id?: string | undefined;
  /** The key's name (not secret: it is what refusals and metrics name). */
  readonly name: string;
  /** Model ids (or aliases) the key may call, or "all". */
  readonly allowedModels: readonly string[] | "all";
  readonly limits: KeyLimits;
  /** Epoch ms after which the key no longer works; undefined: it does not expire. */
  readonly expiresAtMs?: number | undefined;
  /** Its weight when calls of several keys wait in one queue (fair-queue.ts). Default 1. */
  readonly weight?: number | undefined;
}

/** What a key's limits are counted under: its id, or its hash. */
export function limitId(key: ApiKeyView): string {
  return key.id ?? key.hash;
}
