import type { HandlerContext } from "@connectrpc/connect";
import type { Access, Authenticator } from "../auth/authenticator.ts";
import { toConnectError } from "./connect-errors.ts";

/** Read-only RPCs per service; every other RPC of a service needs `write`. */
const READ_METHODS: Record<string, ReadonlySet<string>> = {
  "tei_fleet.v1.InstanceService": new Set(["GetInstance", "ListInstances", "GetInstanceHealth", "GetFleetHealth", "GetInstanceLogs", "ListEvents", "Watch"]),
  "tei_fleet.v1.NodeService": new Set(["ListNodes", "GetNode"]),
  "tei_fleet.v1.CatalogService": new Set(["ListAliases", "GetAlias", "ListModels", "GetModel", "ListBackends", "GetBackend"]),
  "tei_fleet.v1.ApiKeyService": new Set(["GetApiKey", "ListApiKeys"]),
  "tei_fleet.v1.UsageService": new Set(["GetKeyUsage", "ListUsage"]),
};

/** Services node agents and routers call with the join token. */
const AGENT_SERVICES = new Set(["tei_fleet.v1.AgentService", "tei_fleet.v1.RouteService", "tei_fleet.v1.AdmissionService"]);

/** The access an RPC needs. Unknown services need admin. */
export function rpcAccess(service: string, method: string): Access {
  if (AGENT_SERVICES.has(service)) return "agent";
  return READ_METHODS[service]?.has(method) ? "read" : "write";
}

/**
 * The Connect `requestGate` (runs after the headers arrive, before the body is read): checks the
 * bearer token's scope for the RPC, with the same rules and errors as REST. Applies to every
 * service on the router, including the scheduler's AgentService, RouteService and NodeService.
 */
export function createConnectAuthGate(auth: Authenticator): (ctx: HandlerContext) => Promise<void> {
  return async (ctx) => {
    try {
      await auth.authorize(ctx.requestHeader.get("authorization") ?? undefined, rpcAccess(ctx.service.typeName, ctx.method.name));
    } catch (err) {
      throw toConnectError(err);
    }
  };
}
