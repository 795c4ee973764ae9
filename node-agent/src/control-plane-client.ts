import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AgentService } from "@tei-fleet/proto/fleet/v1";

/** The control plane's AgentService as the agent calls it. */
export type AgentServiceClient = Client<typeof AgentService>;

/**
 * A Connect client for AgentService over HTTP/1.1 (server streams such as WatchAssignments work
 * over HTTP/1.1 with the Connect protocol), authenticated with the join token.
 */
export function createControlPlaneClient(baseUrl: string, joinToken: string | undefined): AgentServiceClient {
  const auth: Interceptor = (next) => (req) => {
    if (joinToken) req.header.set("authorization", `Bearer ${joinToken}`);
    return next(req);
  };
  const transport = createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [auth] });
  return createClient(AgentService, transport);
}
