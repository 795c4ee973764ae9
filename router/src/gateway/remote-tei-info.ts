/**
 * What the gateway knows of a remote TEI backend from its `GET /info`: `max_client_batch_size`
 * (TEI refuses a request with more inputs, so the gateway splits it, as it does for its own
 * replicas), `max_concurrent_requests` (how many of those chunks go at once) and the model's
 * type (the default routes, `POST /invocations` and `POST /`, go by it, SPLADE included).
 *
 * Asked when a request first needs it (a list of several inputs, a default route), then kept
 * per base URL for 60 s; after that, the next request that needs it gets the kept answer at once
 * while a new one is asked in the background, so that a backend whose TEI was restarted with
 * other limits is followed within a minute. The router has no health check of its own to refresh
 * it with (backends are probed by the control plane, once for the fleet: its backend-health.ts),
 * so the cache's age is the refresh; a `GET /info` through the gateway refreshes it too. A failed
 * ask is tried again after 5 s, and meanwhile TEI's defaults apply (32 inputs per call); a
 * backend started with fewer then refuses a batch with a 422 that names its limit, which is kept
 * as if `/info` had said it (the request is split again, once: remote-backend.ts). The ask
 * belongs to no request (one serves all that wait): it has no span, carries no trace context and
 * does not count for the backend's health, which the requests' own calls measure.
 */
import { DEFAULT_CLIENT_BATCH } from "./model-info.ts";
import type { RemoteTarget } from "./remote-backend-target.ts";
import { sendRemote } from "./remote-call.ts";

/** The facts of one remote TEI. */
export interface RemoteInfo {
  readonly maxClientBatchSize: number;
  readonly maxConcurrentRequests: number;
  /** The route TEI's default route takes for its model: by type, and `/embed_sparse` for SPLADE. */
  readonly defaultRoute: "/embed" | "/embed_sparse" | "/predict" | "/rerank";
}

/** How long an answer is used before it is asked again. */
const FRESH_MS = 60_000;
/** How long after a failed ask the next may be made. */
const RETRY_MS = 5000;
/** Longest wait for an answer (a request may be waiting for it). */
const ASK_TIMEOUT_MS = 10_000;
/** Base URLs kept at most (a catalog holds a handful; this bounds a churn of entries). */
const MAX_KEPT = 1024;

/** TEI's `--max-concurrent-requests` default. */
const DEFAULT_CONCURRENT = 512;

interface Known {
  info: RemoteInfo | null;
  /** Epoch ms of the kept answer. */
  at: number;
  /** The ask under way, if any. */
  asking: Promise<RemoteInfo | null> | null;
  failedAt: number;
}

const known = new Map<string, Known>();

function entry(t: RemoteTarget): Known {
  let k = known.get(t.url);
  if (k === undefined) {
    if (known.size >= MAX_KEPT) known.clear();
    k = { info: null, at: 0, asking: null, failedAt: 0 };
    known.set(t.url, k);
  }
  return k;
}

/** The facts in a TEI `/info` body; null when it is not one. */
export function readRemoteInfo(json: unknown): RemoteInfo | null {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return null;
  const j = json as Record<string, unknown>;
  const positive = (v: unknown, d: number): number => (typeof v === "number" && Number.isInteger(v) && v > 0 ? v : d);
  const type = j.model_type;
  let defaultRoute: RemoteInfo["defaultRoute"] = "/embed";
  if (typeof type === "object" && type !== null) {
    if ("classifier" in type) defaultRoute = "/predict";
    else if ("reranker" in type) defaultRoute = "/rerank";
    else if ((type as { embedding?: { pooling?: unknown } }).embedding?.pooling === "splade") defaultRoute = "/embed_sparse";
  }
  return {
    maxClientBatchSize: positive(j.max_client_batch_size, DEFAULT_CLIENT_BATCH),
    maxConcurrentRequests: positive(j.max_concurrent_requests, DEFAULT_CONCURRENT),
    defaultRoute,
  };
}

/** Keeps the facts of an `/info` answer of `t` (the `/info` route's). */
export function learnRemoteInfo(t: RemoteTarget, json: unknown): void {
  const info = readRemoteInfo(json);
  if (info === null) return;
  const k = entry(t);
  k.info = info;
  k.at = Date.now();
}

/** The facts of `t`: kept, or asked (null when it could not be: the defaults apply). Never rejects. */
export function remoteInfo(t: RemoteTarget): Promise<RemoteInfo | null> {
  const k = entry(t);
  const now = Date.now();
  if (k.info !== null) {
    if (now - k.at > FRESH_MS && k.asking === null) void ask(t, k);
    return Promise.resolve(k.info);
  }
  if (k.asking !== null) return k.asking;
  if (now - k.failedAt < RETRY_MS) return Promise.resolve(null);
  return ask(t, k);
}

/** The facts of `t` when kept, without asking. */
export function keptRemoteInfo(t: RemoteTarget): RemoteInfo | null {
  return known.get(t.url)?.info ?? null;
}

/**
 * The limit a TEI's 422 names when a call carried more inputs than its `max_client_batch_size`
 * ("batch size 6 > maximum allowed batch size 4", TEI's validation message); undefined for any
 * other message.
 */
export function refusedBatchLimit(message: string): number | undefined {
  const m = /batch size \d+ > maximum allowed batch size (\d+)/.exec(message);
  const limit = m === null ? Number.NaN : Number(m[1]);
  return Number.isInteger(limit) && limit > 0 ? limit : undefined;
}

/**
 * Keeps `limit` as `t`'s `max_client_batch_size`, learnt from its refusal when its `/info`
 * could not be read (its other facts as kept, or TEI's defaults); the next ask of `/info` replaces it.
 */
export function learnClientBatch(t: RemoteTarget, limit: number): void {
  const k = entry(t);
  k.info = { maxConcurrentRequests: DEFAULT_CONCURRENT, defaultRoute: "/embed", ...k.info, maxClientBatchSize: limit };
  k.at = Date.now();
}

/** The inputs one call to `t` may carry. */
export function clientBatchOf(info: RemoteInfo | null): number {
  return info?.maxClientBatchSize ?? DEFAULT_CLIENT_BATCH;
}

function ask(t: RemoteTarget, k: Known): Promise<RemoteInfo | null> {
  const timeoutMs = Math.min(t.timeoutMs, ASK_TIMEOUT_MS);
  const p = sendRemote(t, "GET", "/info", null, {}, AbortSignal.timeout(timeoutMs), timeoutMs).then(
    (raw) => {
      let info: RemoteInfo | null = null;
      if (raw.status === 200) {
        try {
          info = readRemoteInfo(JSON.parse(raw.text));
        } catch {
          /* not JSON: as a failed ask */
        }
      }
      return info;
    },
    () => null,
  );
  k.asking = p.then((info) => {
    k.asking = null;
    if (info === null) {
      k.failedAt = Date.now();
      return k.info;
    }
    k.info = info;
    k.at = Date.now();
    return info;
  });
  return k.asking;
}
