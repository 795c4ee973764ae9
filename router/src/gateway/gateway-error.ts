/**
 * The gateway's one error type: an HTTP status with what each route family needs to render it
 * (TEI's `error_type`, OpenAI's `type`, `param` and `code`), and the mapping of gRPC statuses (a
 * TEI answer, or the router's own: no replica, unknown model) to it. Rendering per family lives
 * in error-body.ts; messages name the problem for the caller and never carry a secret.
 */
import { GrpcStatus } from "../grpc/grpc-status.ts";

/** TEI's `error_type` values (serde variant names), plus the gateway's own for routing. */
export type TeiErrorType = "Validation" | "Empty" | "Tokenizer" | "Backend" | "Overloaded" | "Unhealthy" | "NotFound" | "Unauthorized";

/** An error answered to an HTTP client. */
export class GatewayError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** TEI's `error_type`. */
  readonly teiType: TeiErrorType;
  /** OpenAI's `error.type`. */
  readonly openaiType: string;
  /** OpenAI's `error.param`: the request field at fault, or null. */
  readonly param: string | null;
  /** OpenAI's `error.code`, or null. */
  readonly code: string | null;
  /** Milliseconds for `Retry-After` / `retry-after-ms` (0: none). */
  readonly retryAfterMs: number;

  constructor(status: number, message: string, teiType: TeiErrorType, param: string | null = null, code: string | null = null, retryAfterMs = 0) {
    super(message);
    this.name = "GatewayError";
    this.status = status;
    this.teiType = teiType;
    this.param = param;
    this.code = code;
    this.retryAfterMs = retryAfterMs;
    // OpenAI's own 429s say `requests` (or `tokens`) for a rate limit; an overloaded fleet is not one.
    if (status === 429) this.openaiType = code === "rate_limit_exceeded" ? "requests" : "overloaded_error";
    else this.openaiType = status >= 500 ? "server_error" : "invalid_request_error";
  }
}

/** 422 Validation naming `field` (a shape error: a wrong type, a bad value). */
export function invalidField(field: string, message: string): GatewayError {
  return new GatewayError(422, `${field}: ${message}`, "Validation", field);
}

/** 400 Empty naming `field` (TEI's answer to empty inputs). */
export function emptyField(field: string, message = "must not be empty"): GatewayError {
  return new GatewayError(400, `${field}: ${message}`, "Empty", field);
}

/** The answer to a model (or instance) name the fleet does not serve. */
export function modelNotFound(message: string): GatewayError {
  return new GatewayError(404, message, "NotFound", "model", "model_not_found");
}

/**
 * TEI's FAILED_PRECONDITION covers a request the model can never serve (the wrong route for the
 * model type, `normalize` on SPLADE) and a failed batch (CUDA OOM, a tokenizer crash): only the
 * first is the caller's mistake, and TEI's messages tell them apart.
 */
const MODEL_MISMATCH = /not an? [a-z ]*model|not available for|is not supported/i;

/**
 * Maps a gRPC status from TEI or the router to the gateway error, as TEI's HTTP server would
 * answer (tei.md §4.4), with the router's own cases: NOT_FOUND is an unknown model (404),
 * UNAVAILABLE no ready replica (503 with Retry-After); `retryAfterMs` is the router's hint (a
 * rate limit, a full queue), else 1 s where a retry makes sense.
 */
export function fromGrpcStatus(code: number, message: string, retryAfterMs?: number): GatewayError {
  const retry = retryAfterMs ?? 1000;
  switch (code) {
    case GrpcStatus.INVALID_ARGUMENT:
      if (/cannot be empty/.test(message)) return new GatewayError(400, message, "Empty", "input");
      return new GatewayError(422, message, "Validation");
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return new GatewayError(
        429,
        message || "Model is overloaded",
        "Overloaded",
        null,
        /\bover its limit\b/.test(message) ? "rate_limit_exceeded" : "overloaded",
        retry,
      );
    case GrpcStatus.FAILED_PRECONDITION:
      if (MODEL_MISMATCH.test(message)) return new GatewayError(424, message, "Backend", "model", "model_type_mismatch");
      return new GatewayError(424, message, "Backend", null, "backend_error", retry);
    case GrpcStatus.NOT_FOUND:
      return modelNotFound(message);
    case GrpcStatus.UNAVAILABLE:
      return new GatewayError(503, message, "Unhealthy", null, "unavailable", retry);
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new GatewayError(504, message, "Backend", null, "timeout");
    case GrpcStatus.OUT_OF_RANGE:
      return new GatewayError(413, message, "Validation", null, "request_too_large");
    case GrpcStatus.UNAUTHENTICATED:
      return new GatewayError(401, message, "Unauthorized", null, "invalid_api_key");
    case GrpcStatus.PERMISSION_DENIED:
      return new GatewayError(403, message, "Unauthorized", null, "permission_denied");
    default:
      return new GatewayError(502, message || "backend error", "Backend", null, "backend_error");
  }
}
