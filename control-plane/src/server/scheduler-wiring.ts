import { existsSync } from "node:fs";
import type { ConnectRouter } from "@connectrpc/connect";
import type { FastifyPluginAsync } from "fastify";
import type { Logger } from "pino";
import type { Scheduler } from "../scheduler/index.ts";

/** The scheduler's API surfaces, when its modules provide them. */
export interface SchedulerSurfaces {
  /** Registers AgentService, RouteService and NodeService. */
  connectRoutes?: (router: ConnectRouter) => void;
  /** GET /nodes, GET /nodes/:name, POST /nodes/:name/cordon|uncordon|drain, POST /plan. */
  restPlugin?: FastifyPluginAsync;
}

/**
 * Loads the scheduler's Connect services (scheduler/connect.ts) and REST routes
 * (scheduler/rest.ts). Both are built alongside this API; they are imported by path at run time
 * so that the API starts (with the instance API only) while they do not exist yet, and a warning
 * says what is missing.
 *
 * Expected exports: connect.ts: `registerSchedulerServices(router, scheduler)` (or any exported
 * function whose name starts with `register`, each called with `(router, scheduler)`);
 * rest.ts: `schedulerRestPlugin` or the default export, a Fastify plugin taking `{ scheduler }`.
 */
export async function loadSchedulerSurfaces(scheduler: Scheduler, logger: Logger): Promise<SchedulerSurfaces> {
  const surfaces: SchedulerSurfaces = {};
  const connectUrl = new URL("../scheduler/connect.ts", import.meta.url);
  if (existsSync(connectUrl)) {
    const mod = (await import(connectUrl.href)) as Record<string, unknown>;
    const registers = Object.entries(mod).filter(([name, fn]) => name.startsWith("register") && typeof fn === "function")
      .map(([, fn]) => fn as (router: ConnectRouter, scheduler: Scheduler) => void);
    surfaces.connectRoutes = (router) => { for (const register of registers) register(router, scheduler); };
  } else {
    logger.warn("scheduler/connect.ts not found: AgentService, RouteService and NodeService are not served");
  }
  const restUrl = new URL("../scheduler/rest.ts", import.meta.url);
  if (existsSync(restUrl)) {
    const mod = (await import(restUrl.href)) as Record<string, unknown>;
    const plugin = (mod.schedulerRestPlugin ?? mod.default) as FastifyPluginAsync<{ scheduler: Scheduler }> | undefined;
    if (plugin) surfaces.restPlugin = async (app) => { await app.register(plugin, { scheduler }); };
  } else {
    logger.warn("scheduler/rest.ts not found: /nodes and /plan are not served");
  }
  return surfaces;
}
