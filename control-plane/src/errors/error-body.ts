import type { ApiError, ApiErrorCode } from "./api-error.ts";

/** The REST error body (tei-manager's shape plus `field`). */
export interface ErrorBody {
  error: string;
  code: ApiErrorCode;
  field?: string;
  timestamp: string;
}

/**
 * Renders an ApiError as the REST error body: the one place a REST error's JSON is built (the
 * Fastify error handler and the HTTP layer's own refusals both send this). The message is the
 * ApiError's, which for internal errors is a fixed text: causes never reach the body.
 */
export function errorBody(err: ApiError, now = new Date()): ErrorBody {
  return {
    error: err.message,
    code: err.code,
    ...(err.field !== undefined ? { field: err.field } : {}),
    timestamp: now.toISOString(),
  };
}
