import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError, type ApiErrorCode } from "../errors/api-error.ts";
import { errorBody } from "../errors/error-body.ts";
import { toApiError } from "../errors/to-api-error.ts";

/** Fastify's own client errors, renamed into the catalogue. */
const FASTIFY_CODES: Record<string, [ApiErrorCode, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ["PAYLOAD_TOO_LARGE", "request body is too large"],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ["UNSUPPORTED_MEDIA_TYPE", "unsupported Content-Type: send application/json"],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ["VALIDATION_ERROR", "request body size does not match Content-Length"],
  FST_ERR_CTP_INVALID_JSON_BODY: ["INVALID_JSON", "request body is not valid JSON"],
  FST_ERR_CTP_EMPTY_JSON_BODY: ["INVALID_JSON", "request body is empty but Content-Type is application/json"],
  FST_ERR_BAD_URL: ["VALIDATION_ERROR", "malformed URL"],
};

/** Maps anything thrown while serving a REST request to an ApiError: Fastify's own client errors by their code, the rest by {@link toApiError}. */
export function restError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const fe = err as Partial<FastifyError>;
  const known = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (known) return new ApiError(known[0], known[1], { cause: err });
  // Any other error Fastify marks as the client's fault stays a 4xx, never a 500.
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ApiError("VALIDATION_ERROR", fe.message ?? "bad request", { cause: err });
  }
  return toApiError(err);
}

/** Sends an ApiError as the JSON error body. */
export function sendError(reply: FastifyReply, err: ApiError): FastifyReply {
  return reply.code(err.status).headers(err.headers).type("application/json; charset=utf-8").send(errorBody(err));
}

/**
 * Installs the error and not-found handlers on the root instance: every failure becomes
 * `{"error", "code", "field"?, "timestamp"}`; causes of 5xx are logged, never sent.
 */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const apiError = restError(err);
    if (apiError.status >= 500) request.log.error({ err: apiError.cause ?? err }, "request failed");
    return sendError(reply, apiError);
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, new ApiError("NOT_FOUND", `no route ${request.method} ${request.url.split("?")[0]}`)));
}
