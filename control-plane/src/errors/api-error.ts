import { Code } from "@connectrpc/connect";

/**
 * The error catalogue of the control plane's API: every error a client can get, with its HTTP
 * status (REST) and its Connect code (Connect, gRPC, gRPC-web). Codes reuse tei-manager's names
 * where tei-manager has one (INSTANCE_NOT_FOUND, INSTANCE_EXISTS, INVALID_PORT, ...), so scripts
 * written against tei-manager keep matching on them.
 *
 * The one place where an internal error becomes a wire error: REST's error handler and the
 * Connect error mapping both read this table, so the two surfaces cannot drift apart.
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
} as const satisfies Record<string, { status: number; connect: Code }>;

/** A code of the catalogue, e.g. `INSTANCE_NOT_FOUND`. */
export type ApiErrorCode = keyof typeof ERROR_CATALOGUE;

/**
 * An error meant for the client: a catalogue code, a message that names the problem, and the
 * request field at fault when there is one. Anything thrown that is not an ApiError is an
 * internal error: logged with its cause, answered as INTERNAL_ERROR without details.
 */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly field: string | undefined;
  /** Extra response headers, e.g. `allow` for 405. */
  readonly headers: Record<string, string>;

  constructor(code: ApiErrorCode, message: string, options: { field?: string; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "ApiError";
    this.code = code;
    this.field = options.field;
    this.headers = options.headers ?? {};
  }

  /** The HTTP status of this error's code. */
  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }

  /** The Connect code of this error's code. */
  get connectCode(): Code {
    return ERROR_CATALOGUE[this.code].connect;
  }
}

/** The REST error body (tei-manager's shape plus `field`). */
export interface ErrorBody {
  error: string;
  code: ApiErrorCode;
  field?: string;
  timestamp: string;
}

/** Renders an ApiError as the REST error body. */
export function errorBody(err: ApiError, now = new Date()): ErrorBody {
  return {
    error: err.message,
    code: err.code,
    ...(err.field !== undefined ? { field: err.field } : {}),
    timestamp: now.toISOString(),
  };
}

/**
 * Recognises failures of the Redis connection (as opposed to bugs), which the API reports as
 * 503 BACKEND_UNAVAILABLE so that clients retry instead of treating the call as rejected.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name === "MaxRetriesPerRequestError" || /Connection is closed|ECONNREFUSED|ECONNRESET|Stream isn't writeable|enableOfflineQueue/i.test(err.message)
  );
}

/** Turns any thrown value into an ApiError; unknown errors become INTERNAL_ERROR (message hidden). */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  // The scheduler's node operations throw this for an unknown node name.
  if (err instanceof Error && err.name === "NodeNotFoundError") return new ApiError("NODE_NOT_FOUND", err.message, { field: "name", cause: err });
  // ...and this when a node to delete still runs something (or could get something placed).
  if (err instanceof Error && err.name === "NodeInUseError") return new ApiError("NODE_IN_USE", err.message, { cause: err });
  if (isRedisUnavailable(err)) return new ApiError("BACKEND_UNAVAILABLE", "the fleet's Redis is unavailable; retry later", { cause: err });
  return new ApiError("INTERNAL_ERROR", "internal error", { cause: err });
}
