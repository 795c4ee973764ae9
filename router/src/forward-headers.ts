/**
 * The request headers a backend receives: the client's metadata as it came (grpc-timeout, te,
 * content-type, grpc-encoding, user metadata including the routing keys), with the HTTP/2
 * pseudo-headers set for the backend and connection-level headers dropped. Headers are flat
 * [name, value, ...] lists, as the HTTP/2 layer decodes them.
 */
import { formatGrpcTimeout } from "./grpc-timeout.ts";

/** Never copied: pseudo-headers are rebuilt; these are per-connection or describe the old body. */
const SKIP = new Set(["host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"]);

/**
 * Builds the headers of a backend request for `path` on `authority` (host:port).
 * @param timeoutMs - when set, `grpc-timeout` is replaced by what is left of the caller's
 *   deadline (a retried call must not give the backend the whole original budget again)
 */
export function backendRequestHeaders(incoming: readonly string[], path: string, authority: string, timeoutMs?: number): string[] {
  const out = [":method", "POST", ":scheme", "http", ":authority", authority, ":path", path];
  for (let i = 0; i < incoming.length; i += 2) {
    const k = incoming[i] as string;
    if (k.charCodeAt(0) === 58 /* ':' */ || SKIP.has(k)) continue;
    if (timeoutMs !== undefined && k === "grpc-timeout") {
      out.push(k, formatGrpcTimeout(timeoutMs));
      continue;
    }
    out.push(k, incoming[i + 1] as string);
  }
  return out;
}
