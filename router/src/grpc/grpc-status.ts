/**
 * gRPC status codes and the small helpers the router needs to speak them on raw HTTP/2 streams:
 * percent-encoding of `grpc-message`, the mapping of RST_STREAM codes to statuses, and the error
 * type that carries a status from the point where a problem is found to the point where the
 * stream answers it.
 */
import { ErrorCode } from "../h2/index.ts";

/** The gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** One of the numeric gRPC status codes. */
export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/** Status names indexed by code, used as the `code` label of the request metrics. */
export const GRPC_STATUS_NAMES: readonly string[] = Object.keys(GrpcStatus);

/** The decimal strings of every code, so the hot path never formats a number for a header. */
export const GRPC_STATUS_STRINGS: readonly string[] = GRPC_STATUS_NAMES.map((_, i) => String(i));

/**
 * A failure the router answers with a gRPC status of its own (as opposed to a status TEI sent,
 * which is passed through untouched).
 */
export class RouterError extends Error {
  /** The gRPC status code sent to the client. */
  readonly code: GrpcStatusCode;
  /**
   * The HTTP status of the answer: 200 for every gRPC error; another only for a request that is
   * not a gRPC call at all (405 for a method other than POST, 415 for a content-type that is not
   * gRPC's), as the gRPC over HTTP/2 spec asks.
   */
  readonly httpStatus: number;
  /**
   * When the caller may try again, in milliseconds (a rate limit or a full queue): sent as the
   * `retry-after-ms` and `grpc-retry-pushback-ms` trailers; the HTTP gateway's `Retry-After`.
   * Undefined: no hint.
   */
  readonly retryAfterMs: number | undefined;

  /**
   * @param code - the gRPC status to answer with
   * @param message - sent as `grpc-message`; names the problem for the caller, never a secret
   * @param httpStatus - see {@link RouterError.httpStatus}; default 200
   * @param retryAfterMs - see {@link RouterError.retryAfterMs}; default none
   */
  constructor(code: GrpcStatusCode, message: string, httpStatus = 200, retryAfterMs?: number) {
    super(message);
    this.name = "RouterError";
    this.code = code;
    this.httpStatus = httpStatus;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Percent-decodes a `grpc-message` (the gRPC spec's encoding of non-ASCII and `%`); "" for none. */
export function decodeGrpcMessage(raw: string | undefined): string {
  if (raw === undefined) return "";
  if (raw.indexOf("%") < 0) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * Percent-encodes a status message as the gRPC over HTTP/2 spec requires for `grpc-message`:
 * every byte outside printable ASCII, and `%` itself, becomes `%XX` of its UTF-8 encoding.
 */
export function encodeGrpcMessage(message: string): string {
  // The fast path: most router messages are plain ASCII without '%'.
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out += byte < 0x20 || byte > 0x7e || byte === 0x25 ? `%${byte.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(byte);
  }
  return out;
}

/**
 * Maps an HTTP/2 RST_STREAM error code received from a backend to the gRPC status the client
 * gets, as the gRPC HTTP/2 protocol document specifies.
 */
export function statusFromRstCode(rstCode: number): GrpcStatusCode {
  switch (rstCode) {
    case ErrorCode.REFUSED_STREAM:
      return GrpcStatus.UNAVAILABLE;
    case ErrorCode.CANCEL:
      return GrpcStatus.CANCELLED;
    case ErrorCode.ENHANCE_YOUR_CALM:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case ErrorCode.INADEQUATE_SECURITY:
      return GrpcStatus.PERMISSION_DENIED;
    default:
      return GrpcStatus.INTERNAL;
  }
}

/**
 * The status a gRPC client derives from a non-200 HTTP status without `grpc-status`
 * (gRPC's http-grpc-status-mapping.md), for a backend that answers like a plain HTTP server.
 */
export function statusFromHttpStatus(httpStatus: number): GrpcStatusCode {
  switch (httpStatus) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

/**
 * Parses the `grpc-status` header value of a backend answer; anything unparseable counts as
 * UNKNOWN, as gRPC clients do.
 */
export function parseGrpcStatus(value: string | undefined): number {
  if (value === undefined) return GrpcStatus.UNKNOWN;
  // Single digits are by far the most common; avoid Number() on the hot path.
  if (value.length === 1) {
    const c = value.charCodeAt(0) - 48;
    return c >= 0 && c <= 9 ? c : GrpcStatus.UNKNOWN;
  }
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 && n <= 16 ? n : GrpcStatus.UNKNOWN;
}
