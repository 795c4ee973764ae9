/**
 * Per-key rate limits, enforced by each router on its share of the key's limits: a token bucket
 * of requests (rate × share per second, burst × share) and, for a key with a tokens-per-minute
 * limit, a bucket of TEI tokens charged after each answer. The shares come from the background
 * renewal (share-renewer.ts): until a grant names a key, it gets what the last grant said, or an
 * even split over the routers the last grant counted (the configured router count before any).
 * The limiter also counts each key's demand (calls that asked, tokens answered) for the next
 * report.
 */
import { GrpcStatus, RouterError } from "../grpc/grpc-status.ts";
import type { AdmissionCall } from "./admission.ts";
import type { AdmissionClock } from "./admission-clock.ts";
import { type ApiKeyView, limitId } from "./api-key-view.ts";
import type { KeyDemand, ShareGrant } from "./rate-share-source.ts";
import { TokenBucket } from "./token-bucket.ts";

/** One key's state on this router. */
interface KeyState {
  /** The view its buckets were configured from (a replaced key is reconfigured). */
  view: ApiKeyView;
  /** This router's share of the key's limits. */
  share: number;
  readonly requests: TokenBucket;
  tokens: TokenBucket | null;
  /** Demand since the last report. */
  asked: number;
  counted: number;
}

/** Enforces the keys' limits at this router's shares. */
export class KeyRateLimiter {
  private readonly keys = new Map<string, KeyState>();
  private grant: ShareGrant;
  private readonly clock: Pick<AdmissionClock, "now">;

  /**
   * @param clock - what the end hook charges tokens at (the other methods take `now`)
   * @param routers - routers assumed to share each key before any grant (an even split); 1: this
   *   router enforces the whole limit
   */
  constructor(clock: Pick<AdmissionClock, "now">, routers = 1) {
    this.clock = clock;
    this.grant = { routers: Math.max(1, routers), shares: new Map() };
  }

  /**
   * Admits one call of `key` at `now` (monotonic ms), or refuses it RESOURCE_EXHAUSTED with the
   * time after which a retry would be admitted.
   */
  admit(key: ApiKeyView, now: number): RouterError | undefined {
    const s = this.state(key, now);
    s.asked++;
    // Tokens first: a call refused for them must not use up a request.
    const t = s.tokens;
    if (t !== null && !t.solvent(now)) return this.refusal(key, `${key.limits.tokensPerMinute} tokens/min`, t.waitMs(Number.MIN_VALUE, now));
    if (!s.requests.take(1, now)) return this.refusal(key, `${key.limits.requestsPerSecond} requests/s`, s.requests.waitMs(1, now));
    return undefined;
  }

  /** True when calls of `key` are to have their tokens counted (it has a tokens-per-minute limit). */
  countsTokens(key: ApiKeyView): boolean {
    return key.limits.tokensPerMinute !== undefined;
  }

  /** Charges the tokens an answer of `key` counted (after the fact: the bucket may go into debt). */
  chargeTokens(key: ApiKeyView, tokens: number, now: number): void {
    const s = this.state(key, now);
    s.counted += tokens;
    s.tokens?.charge(tokens, now);
  }

  /**
   * The end hook a counted call runs: charges what TEI counted. One function for every call, so
   * nothing is allocated per call.
   */
  readonly onCounted = (_code: number, call: AdmissionCall): void => {
    const key = call.key;
    if (key !== null && call.computeTokens > 0) this.chargeTokens(key, call.computeTokens, this.clock.now());
  };

  /** Applies a new grant: every key's share is renewed (keys it does not name: 1/routers). */
  applyGrant(grant: ShareGrant, now: number): void {
    this.grant = { routers: Math.max(1, grant.routers), shares: grant.shares };
    for (const [id, s] of this.keys) {
      const share = this.shareOf(id);
      if (share !== s.share) {
        s.share = share;
        this.configure(s, now);
      }
    }
  }

  /** The demand since the previous call of this (what the next report says), and resets it. */
  takeDemand(): Map<string, KeyDemand> {
    const out = new Map<string, KeyDemand>();
    for (const [id, s] of this.keys) {
      if (s.asked === 0 && s.counted === 0) continue;
      out.set(id, { requests: s.asked, tokens: s.counted });
      s.asked = 0;
      s.counted = 0;
    }
    return out;
  }

  /** This router's share now of the key whose limits are counted under `id` (limitId). */
  shareOf(id: string): number {
    return this.grant.shares.get(id) ?? 1 / this.grant.routers;
  }

  /** Forgets a key's state (revoked), by limitId. */
  forget(id: string): void {
    this.keys.delete(id);
  }

  private state(key: ApiKeyView, now: number): KeyState {
    const id = limitId(key);
    let s = this.keys.get(id);
    if (s === undefined) {
      const share = this.shareOf(id);
      const l = key.limits;
      s = {
        view: key,
        share,
        requests: new TokenBucket(l.requestsPerSecond * share, l.burst * share, now),
        tokens: null,
        asked: 0,
        counted: 0,
      };
      this.configure(s, now);
      this.keys.set(id, s);
    } else if (s.view !== key) {
      s.view = key; // new limits from the key's publisher
      this.configure(s, now);
    }
    return s;
  }

  private configure(s: KeyState, now: number): void {
    const l = s.view.limits;
    s.requests.configure(l.requestsPerSecond * s.share, l.burst * s.share, now);
    const tpm = l.tokensPerMinute;
    if (tpm === undefined) s.tokens = null;
    // A minute's worth may be spent at once: the limit is per minute, not per second.
    else if (s.tokens === null) s.tokens = new TokenBucket((tpm / 60) * s.share, tpm * s.share, now);
    else s.tokens.configure((tpm / 60) * s.share, tpm * s.share, now);
  }

  private refusal(key: ApiKeyView, limit: string, waitMs: number): RouterError {
    const ms = Math.max(1, Math.ceil(Number.isFinite(waitMs) ? waitMs : 1000));
    return new RouterError(GrpcStatus.RESOURCE_EXHAUSTED, `API key "${key.name}" is over its limit of ${limit}; retry in ${ms} ms`, 200, ms);
  }
}
