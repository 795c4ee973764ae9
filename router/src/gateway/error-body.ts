/**
 * How each route family shows a {@link GatewayError}: TEI's routes as TEI does
 * (`{"error", "error_type"}`), OpenAI's `/v1/*` as OpenAI does
 * (`{"error": {message, type, param, code}}`), the rerank routes of Cohere and Jina clients with
 * OpenAI's object and Cohere's top-level `message` (each client reads its own key).
 *
 * OpenAI's SDKs retry 408, 409, 429 and 5xx but not TEI's 424, and treat 422 as a caller's
 * mistake like 400: so on the OpenAI family a transient 424 (a failed batch) becomes 503 with
 * Retry-After, a model-type mismatch 400, and every 422 is 400.
 */
import type { GatewayError } from "./gateway-error.ts";

/** Which API a route belongs to (its error shape, its status conventions). */
export type RouteFamily = "tei" | "openai" | "cohere";

/** The HTTP status `err` is answered with on `family`. */
export function statusFor(family: RouteFamily, err: GatewayError): number {
  if (family === "tei") return err.status;
  if (err.status === 424) return err.code === "model_type_mismatch" ? 400 : 503;
  if (err.status === 422) return 400;
  return err.status;
}

/** Milliseconds after which `err` on `family` may be retried (0: no Retry-After). */
export function retryAfterFor(family: RouteFamily, err: GatewayError): number {
  if (err.retryAfterMs > 0) return err.retryAfterMs;
  return family !== "tei" && statusFor(family, err) === 503 ? 1000 : 0;
}

/** The JSON body of `err` on `family`. */
export function errorBody(family: RouteFamily, err: GatewayError): string {
  if (family === "tei") return JSON.stringify({ error: err.message, error_type: err.teiType });
  const status = statusFor(family, err);
  const error = {
    message: err.message,
    type: status >= 500 ? "server_error" : err.openaiType,
    param: err.param,
    code: err.code,
  };
  return family === "openai" ? JSON.stringify({ error }) : JSON.stringify({ message: err.message, error });
}
