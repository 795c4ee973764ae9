import { ApiError } from "./api-error.ts";

/**
 * Recognises failures of the Redis connection (as opposed to bugs), which the API reports as
 * 503 BACKEND_UNAVAILABLE so that clients retry instead of treating the call as rejected.
 *
 * ioredis does not export its error classes from its entry point (MaxRetriesPerRequestError lives
 * in `ioredis/built/errors`), and connection failures are plain Errors from Node's net module, so
 * these third-party errors can only be told by name and message. Our own errors never are.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name === "MaxRetriesPerRequestError" || /Connection is closed|ECONNREFUSED|ECONNRESET|Stream isn't writeable|enableOfflineQueue/i.test(err.message)
  );
}

/**
 * Turns any thrown value into an ApiError: the one classification both surfaces use (REST's error
 * handler through rest/rest-errors.ts, Connect through connect/connect-errors.ts). An ApiError,
 * including every domain error that extends it, is kept as it is; a Redis failure becomes
 * BACKEND_UNAVAILABLE; anything else is INTERNAL_ERROR with a fixed message, its cause kept for
 * the log and never sent (a message may hold a URL with credentials, a token, a stack).
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isRedisUnavailable(err)) return new ApiError("BACKEND_UNAVAILABLE", "the fleet's Redis is unavailable; retry later", { cause: err });
  return new ApiError("INTERNAL_ERROR", "internal error", { cause: err });
}
