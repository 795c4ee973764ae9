import { Code } from "@connectrpc/connect";

/**
 * The error catalogue of the control plane's API: every error a client can get, with its HTTP
 * status (REST) and its Connect code (Connect, gRPC, gRPC-web). Codes reuse tei-manager's names
 * where tei-manager has one (INSTANCE_NOT_FOUND, INSTANCE_EXISTS, INVALID_PORT, ...), so scripts
 * written against tei-manager keep matching on them.
 *
 * REST's error body (error-body.ts) and the Connect mapping (connect/connect-errors.ts) both read
 * this table, through `toApiError` (to-api-error.ts), so the two surfaces cannot drift apart.
 */
export const ERROR_CATALOGUE = {
  VALIDATION_ERROR: { status: 400, connect: Code.InvalidArgument },
  MISSING_FIELD: { status: 400, connect: Code.InvalidArgument },
  INVALID_INSTANCE_NAME: { status: 400, connect: Code.InvalidArgument },
  INVALID_PORT: { status: 400, connect: Code.InvalidArgument },
  INVALID_GPU_ID: { status: 400, connect: Code.InvalidArgument },
  MANAGED_FLAG: { status: 400, connect: Code.InvalidArgument },
  INVALID_JSON: { status: 400, connect: Code.InvalidArgument },
  INVALID_INSTANCE_STATE: { status: 400, connect: Code.FailedPrecondition },
  UNAUTHENTICATED: { status: 401, connect: Code.Unauthenticated },
  FORBIDDEN: { status: 403, connect: Code.PermissionDenied },
  INSTANCE_NOT_FOUND: { status: 404, connect: Code.NotFound },
  NODE_NOT_FOUND: { status: 404, connect: Code.NotFound },
  NOT_FOUND: { status: 404, connect: Code.NotFound },
  METHOD_NOT_ALLOWED: { status: 405, connect: Code.Unimplemented },
  INSTANCE_EXISTS: { status: 409, connect: Code.AlreadyExists },
  PORT_CONFLICT: { status: 409, connect: Code.FailedPrecondition },
  NODE_IN_USE: { status: 409, connect: Code.FailedPrecondition },
  REVISION_MISMATCH: { status: 409, connect: Code.Aborted },
  PAYLOAD_TOO_LARGE: { status: 413, connect: Code.ResourceExhausted },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, connect: Code.InvalidArgument },
  IDEMPOTENCY_KEY_MISMATCH: { status: 422, connect: Code.FailedPrecondition },
  MAX_INSTANCES_REACHED: { status: 422, connect: Code.ResourceExhausted },
  INTERNAL_ERROR: { status: 500, connect: Code.Internal },
  BACKEND_UNAVAILABLE: { status: 503, connect: Code.Unavailable },
  TIMEOUT: { status: 504, connect: Code.DeadlineExceeded },
  // An If-Match that names no current ETag (RFC 9110 §13.1.1). ABORTED like REVISION_MISMATCH:
  // gRPC's code for a failed test-and-set, after which the client re-reads and retries.
  PRECONDITION_FAILED: { status: 412, connect: Code.Aborted },
  // Refusals of the HTTP layer itself (dual-protocol-server.ts), answered in the same JSON shape.
  MALFORMED_REQUEST: { status: 400, connect: Code.InvalidArgument },
  REQUEST_TIMEOUT: { status: 408, connect: Code.DeadlineExceeded },
  HEADERS_TOO_LARGE: { status: 431, connect: Code.ResourceExhausted },
  // A stored record this control plane cannot decode (store/instance-record.ts). 409 rather than
  // 500: retrying cannot help, the way out (DELETE) is the caller's, and the record was already
  // reported once (log and event), so it must not log an error on every read.
  RECORD_UNREADABLE: { status: 409, connect: Code.FailedPrecondition },
  // A node agent whose registration epoch is no longer current (AgentService: Leave,
  // WatchAssignments): it must register again, which agents do on FAILED_PRECONDITION.
  STALE_EPOCH: { status: 409, connect: Code.FailedPrecondition },
  // The model catalog and API keys (control-plane/src/catalog, control-plane/src/keys).
  ALIAS_NOT_FOUND: { status: 404, connect: Code.NotFound },
  MODEL_NOT_FOUND: { status: 404, connect: Code.NotFound },
  BACKEND_NOT_FOUND: { status: 404, connect: Code.NotFound },
  API_KEY_NOT_FOUND: { status: 404, connect: Code.NotFound },
  // An alias write that would make the alias graph cyclic or too deep: well formed, not acceptable.
  ALIAS_CYCLE: { status: 422, connect: Code.InvalidArgument },
  // A change of a revoked key (revocation is final; create another).
  API_KEY_REVOKED: { status: 409, connect: Code.FailedPrecondition },
} as const satisfies Record<string, { status: number; connect: Code }>;

/** A code of the catalogue, e.g. `INSTANCE_NOT_FOUND`. */
export type ApiErrorCode = keyof typeof ERROR_CATALOGUE;
