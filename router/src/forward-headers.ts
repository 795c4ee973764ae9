/**
 * The request headers a backend receives: the client's metadata as it came (grpc-timeout, te,
 * content-type, grpc-encoding, user metadata including the routing keys), with the HTTP/2
 * pseudo-headers set for the backend and connection-level headers dropped.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";

/** Never copied: pseudo-headers are rebuilt; these are per-connection or describe the old body. */
const SKIP = new Set(["host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"]);

/** Builds the headers of a backend request for `path` on `authority` (host:port). */
export function backendRequestHeaders(incoming: IncomingHttpHeaders, path: string, authority: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ":method": "POST", ":scheme": "http", ":authority": authority, ":path": path };
  for (const k in incoming) {
    if (k.charCodeAt(0) === 58 /* ':' */ || SKIP.has(k)) continue;
    out[k] = incoming[k];
  }
  return out;
}
