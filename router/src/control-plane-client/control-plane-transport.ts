/**
 * The one way a router talks to the control plane: Connect over HTTP/1.1 with the join token as a
 * bearer token. The route watch, the rate-share renewals and the usage reports all use it, so a
 * change of how routers authenticate (a credential per router, TLS) is made here once.
 */
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

/**
 * A transport to the control plane at `baseUrl`.
 * @param joinToken - sent as `authorization: Bearer <token>`; none when undefined or empty
 */
export function controlPlaneTransport(baseUrl: string, joinToken: string | undefined): Transport {
  const auth: Interceptor = (next) => (req) => {
    if (joinToken !== undefined && joinToken !== "") req.header.set("authorization", `Bearer ${joinToken}`);
    return next(req);
  };
  return createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [auth] });
}
