/**
 * What a backend attempt (backend-attempt.ts) asks of the router and tells whoever runs it: the
 * router's long-lived parts it uses, the account it shares with the call's admission, and the
 * listener that hears the answer. The callers (proxy-call.ts, the HTTP gateway's tei-batch.ts,
 * EmbedArrow) program against these.
 */
import type { BackendPool } from "../backends/backend-pool.ts";
import type { GrpcStatusCode, RouterError } from "../grpc/grpc-status.ts";
import type { RouterMetrics } from "../metrics/router-metrics.ts";
import type { OutlierDetector } from "../routing/outlier-detector.ts";
import type { RouteTable } from "../routing/route-table.ts";

/** The long-lived parts of the router an attempt uses. */
export interface AttemptContext {
  /** Resolves targets (through its balancer) and finds the replica a retry moves to. */
  readonly table: RouteTable;
  /** The backend connections. */
  readonly pool: BackendPool;
  /** Told of every answer that counts for or against a replica. */
  readonly outliers: OutlierDetector;
  /** Counts retries. */
  readonly metrics: Pick<RouterMetrics, "retried">;
  /**
   * The fleet checks API keys (`--require-api-keys true`): a caller's `authorization` is its fleet
   * key and is not passed on to TEI. Otherwise it is, so a TEI started with `--api-key` still
   * checks its own key through the router, as with tei-manager.
   */
  readonly withholdAuthorization?: boolean;
}

/**
 * What the attempt and the call's admission tell each other (an AdmissionCall is one): how long
 * the call queued in the fleet, stamped on the answer as `x-fleet-queue-time` (whole ms, beside
 * TEI's `x-queue-time`; the HTTP gateway copies it to a header of the same name), and TEI's token
 * count of the answer, for a key with a tokens-per-minute limit.
 */
export interface CallAccount {
  /** Milliseconds the call waited in the fleet's queue; negative: not measured (no header). */
  readonly queueMs: number;
  /** Set to 0 by whoever wants TEI's `x-compute-tokens` of the answer; the attempt then sets it. -1: not wanted. */
  computeTokens: number;
}

/**
 * What an attempt tells whoever runs it. Exactly one of `onAttemptEnd` and `onAttemptError`
 * ends it; after either (or after `cancel()`) it says nothing more.
 */
export interface AttemptListener {
  /**
   * A streamed answer's response headers (`x-tei-instance` and `x-tei-node` added), to pass on
   * now; its messages follow through `onAttemptData`. Unary answers come whole in `onAttemptEnd`.
   */
  onAttemptHeaders(headers: string[]): void;
  /**
   * Bytes of a streamed answer (gRPC-framed, cut anywhere). Returns false when the receiver
   * could not take them all yet: the backend is credited only on BackendAttempt.drained().
   */
  onAttemptData(chunk: Buffer): boolean;
  /**
   * The backend's answer is complete. For a unary call, `headers` and `body` are the held
   * response headers and message bytes (null for a trailers-only answer, which is `trailers`
   * alone, `:status` included); for a streamed one they were passed on already and are null.
   * `trailers` carry the gRPC status `code` (TEI's own, passed through).
   */
  onAttemptEnd(headers: string[] | null, body: Buffer | null, trailers: string[], code: GrpcStatusCode): void;
  /**
   * The call failed with a status of the router's own (no replica reachable, a reset, the
   * deadline gone before a retry...), after any retry. Nothing more comes from the backend.
   */
  onAttemptError(err: RouterError): void;
  /** The backend took every request byte that was waiting (after `send` returned false). */
  onAttemptDrain(): void;
}
