import type { FastifyInstance } from "fastify";
import type { Access, Authenticator } from "../auth/authenticator.ts";

/** Per-route access, set in a route's `config.access`; by default GET/HEAD read, others write. */
export type RouteAccess = Access | "open";

/**
 * Bearer-token check for every REST route of this context: 401 without a valid token, 403 with
 * the wrong scope (the error handler renders both as JSON). Routes with `config.access: "open"`
 * (health, metrics, API docs, wrong-method answers) skip it.
 */
export function installRestAuth(app: FastifyInstance, auth: Authenticator): void {
  app.addHook("onRequest", async (request) => {
    const configured = (request.routeOptions.config as { access?: RouteAccess } | undefined)?.access;
    const access: RouteAccess = configured ?? (request.method === "GET" || request.method === "HEAD" ? "read" : "write");
    if (access === "open") return;
    await auth.authorize(request.headers.authorization, access);
  });
}
