/**
 * What a backend's gRPC status means for its replica and for the call, one rule for every place
 * an attempt reads a status (a trailers-only answer, trailers after a held unary answer):
 * UNAVAILABLE counts against the replica (outlier-detector.ts); every other status counts for
 * it. UNAVAILABLE and RESOURCE_EXHAUSTED (TEI's `max_concurrent_requests` taken: the replica is
 * up, only full) move a call that may still move to another ready replica, once, so that it does
 * not fail on a down or full replica while another has room.
 */
import { GrpcStatus, type GrpcStatusCode } from "../grpc/grpc-status.ts";

/** True when `code` says the replica is not serving (it counts as a failure of the replica). */
export function countsAgainstReplica(code: GrpcStatusCode): boolean {
  return code === GrpcStatus.UNAVAILABLE;
}

/** True when a call answered `code` should move to another replica, if it still may. */
export function movesToAnotherReplica(code: GrpcStatusCode): boolean {
  return code === GrpcStatus.UNAVAILABLE || code === GrpcStatus.RESOURCE_EXHAUSTED;
}
