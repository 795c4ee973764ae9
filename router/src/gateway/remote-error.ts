/**
 * A remote backend's refusal (an answer of 300 to 499 other than 401/403, which the call itself
 * turns into the gateway's 502) as the gateway's error, so that each route family renders it in
 * its own shape. A TEI backend's `{"error", "error_type"}` comes back on TEI's routes as it was
 * sent (the same status, message and type), on OpenAI's and Cohere's routes in theirs with the
 * status conventions of error-body.ts; statuses that say the backend lacks the route or the
 * method (404, 405...), not that the input is wrong, are the backend's fault: 502. An
 * OpenAI-compatible backend's status is passed on, its message quoted after the backend's name.
 * Messages never carry the upstream key (an echo of it is cut out).
 */
import { GrpcStatus } from "../grpc/grpc-status.ts";
import { fromGrpcStatus, GatewayError, type TeiErrorType } from "./gateway-error.ts";
import type { RemoteTarget } from "./remote-backend-target.ts";

/** TEI's `error_type` values a backend may answer. */
const TEI_TYPES: ReadonlySet<string> = new Set(["Validation", "Empty", "Tokenizer", "Backend", "Overloaded", "Unhealthy"]);

/** Longest upstream message kept. */
const MAX_MESSAGE = 500;

/** `m` without the backend's key (an upstream may quote it). */
export function redactKey(t: RemoteTarget, m: string): string {
  return t.apiKey !== "" ? m.split(t.apiKey).join("[redacted]") : m;
}

/** The message and TEI type of an error body: TEI's `{error, error_type}`, OpenAI's `{error: {message}}`, TEI's OpenAI route's `{message, type}`. */
function readError(raw: string): { message: string; type: TeiErrorType | undefined } | null {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof body !== "object" || body === null) return null;
  const b = body as { error?: unknown; error_type?: unknown; message?: unknown; type?: unknown };
  const typeOf = (v: unknown): TeiErrorType | undefined => (typeof v === "string" && TEI_TYPES.has(v) ? (v as TeiErrorType) : undefined);
  if (typeof b.error === "string") return { message: b.error, type: typeOf(b.error_type) };
  if (typeof b.error === "object" && b.error !== null && typeof (b.error as { message?: unknown }).message === "string") {
    return { message: (b.error as { message: string }).message, type: undefined };
  }
  if (typeof b.message === "string") return { message: b.message, type: typeOf(b.type) };
  return null;
}

/** The gateway's error for a refusal of `t` with `status` and body `raw`, on its route `path`. */
export function remoteRefusal(t: RemoteTarget, status: number, raw: string, path: string): GatewayError {
  const read = readError(raw);
  const text = redactKey(t, read?.message ?? raw.trim()).slice(0, MAX_MESSAGE);
  const said = (fallback: string): string => (text === "" ? fallback : text);
  if (t.kind === "openai") {
    // As before remote TEI routes existed: the status passed on, the upstream's message quoted
    // when it sent JSON (a non-JSON body, an HTML error page say, is not quoted).
    if (status < 400) return new GatewayError(502, `remote backend "${t.name}" answered ${status}`, "Backend", null, "backend_error");
    const msg = read === null ? `remote backend "${t.name}" answered ${status}` : `remote backend "${t.name}" answered ${status}: ${text}`;
    const teiType: TeiErrorType = status === 429 ? "Overloaded" : status === 413 || status === 422 ? "Validation" : "Backend";
    return new GatewayError(status, msg, teiType, null, status === 429 ? "overloaded" : "backend_error", status === 429 ? 1000 : 0);
  }
  const type = read?.type;
  switch (status) {
    case 400:
      return new GatewayError(400, said("remote backend refused the request"), type ?? "Empty", type === undefined || type === "Empty" ? "input" : null);
    case 413:
      return new GatewayError(413, said("request too large for the remote backend"), "Validation", null, "request_too_large");
    case 422:
      return new GatewayError(422, read === null ? `remote backend "${t.name}" refused the request: ${said("422")}` : text, type ?? "Validation");
    case 424: {
      // TEI's Backend: a model-type mismatch (the caller's mistake) or a failed batch (transient),
      // told apart by TEI's message as on the gRPC path.
      const g = fromGrpcStatus(GrpcStatus.FAILED_PRECONDITION, text);
      return new GatewayError(424, said("remote backend failed"), type ?? "Backend", g.param, g.code, g.retryAfterMs);
    }
    case 429:
      return new GatewayError(429, said("Model is overloaded"), "Overloaded", null, "overloaded", 1000);
    default:
      return new GatewayError(
        502,
        `remote backend "${t.name}" answered ${status} on ${path}${text === "" ? "" : `: ${text}`}`,
        "Backend",
        null,
        "backend_error",
      );
  }
}
