/**
 * The request headers a backend receives: the client's metadata as it came (grpc-timeout,
 * content-type, grpc-encoding, user metadata including the routing keys), with the HTTP/2
 * pseudo-headers and `te` set by the router. Headers are flat [name, value, ...] lists, as the
 * HTTP/2 layer decodes them; that layer has already refused every malformed request
 * (h2/request-headers.ts: uppercase or non-token names, controls in values, connection-specific
 * fields), so what is copied here is well-formed and a backend has no reason to refuse it.
 */
import { formatGrpcTimeout } from "../grpc/grpc-timeout.ts";

/**
 * Never copied: pseudo-headers and `te` are the router's own; `host` is the client's view of the
 * router, and `content-length` describes a body the router may re-frame (multiplexer calls).
 */
const SKIP = new Set(["host", "content-length", "te"]);

/**
 * Builds the headers of a backend request for `path` on `authority` (host:port).
 * @param timeoutMs - when set, `grpc-timeout` is replaced by what is left of the caller's
 *   deadline (a retried call must not give the backend the whole original budget again)
 * @param withholdAuthorization - the fleet checked the caller's API key: `authorization` is the
 *   fleet's credential, not TEI's, and a backend never sees it
 */
export function backendRequestHeaders(
  incoming: readonly string[],
  path: string,
  authority: string,
  timeoutMs?: number,
  withholdAuthorization = false,
): string[] {
  // The router is the backend's gRPC client, so it says `te: trailers` itself (gRPC requires it;
  // the client's, if any, said only that, case aside).
  const out = [":method", "POST", ":scheme", "http", ":authority", authority, ":path", path, "te", "trailers"];
  for (let i = 0; i < incoming.length; i += 2) {
    const k = incoming[i] as string;
    if (k.charCodeAt(0) === 58 /* ':' */ || SKIP.has(k)) continue;
    if (withholdAuthorization && k === "authorization") continue;
    if (timeoutMs !== undefined && k === "grpc-timeout") {
      out.push(k, formatGrpcTimeout(timeoutMs));
      continue;
    }
    out.push(k, incoming[i + 1] as string);
  }
  return out;
}
