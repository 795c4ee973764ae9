import type { ConnectRouter } from "@connectrpc/connect";
import type { FastifyPluginAsync } from "fastify";
import { registerAgentService, registerNodeService, registerRouteService } from "../connect/scheduler-services.ts";
import { schedulerRestPlugin } from "../rest/scheduler-routes.ts";
import type { Scheduler } from "../scheduler/index.ts";

/** The scheduler's API surfaces, served next to the instance API on the same port. */
export interface SchedulerSurfaces {
  /** Registers AgentService (node agents), RouteService (routers) and NodeService (operators). */
  connectRoutes?: (router: ConnectRouter) => void;
  /** GET /nodes, GET /nodes/:name, POST /nodes/:name/cordon|uncordon|drain, DELETE /nodes/:name, POST /plan. */
  restPlugin?: FastifyPluginAsync;
}

/**
 * The scheduler's Connect services and REST routes, bound to a scheduler. They are registered
 * inside the API's contexts, so the same token scopes, error mapping and JSON parsing apply.
 */
export function schedulerSurfaces(scheduler: Scheduler): SchedulerSurfaces {
  return {
    connectRoutes: (router) => {
      registerAgentService(router, scheduler);
      registerRouteService(router, scheduler);
      registerNodeService(router, scheduler);
    },
    restPlugin: async (app) => {
      await app.register(schedulerRestPlugin, { scheduler });
    },
  };
}
