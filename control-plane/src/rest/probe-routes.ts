import { addHealthRoutes, healthEndpoints } from "@tei-fleet/core/service";
import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../api/api-context.ts";
import { jsonSchema, ProbeSchema } from "./schemas.ts";

/**
 * The probes every TEI Fleet service answers (the service kit's `/healthz` and `/readyz`), open
 * without a token. `/healthz`: this process serves requests. `/readyz`: it can do its job, which
 * for the control plane means Redis answers (every request reads or writes it); a load balancer
 * or Kubernetes sends no traffic to a replica that cannot reach Redis, but does not restart it.
 * tei-manager's `/health` and the `/metrics` route stay as they were (fleet-routes.ts).
 */
export async function probeRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const endpoints = healthEndpoints({
    ready: async () => {
      await ctx.redis.ping();
      return { ok: true, details: { redis: "ok" } };
    },
  });
  const probe = { 200: jsonSchema(ProbeSchema), 503: { ...jsonSchema(ProbeSchema), description: "Not ready (or not alive), with `error` saying why" } };
  addHealthRoutes(app, endpoints, (endpoint) => ({
    config: { access: "open" },
    schema: {
      tags: ["fleet"],
      summary: endpoint.path === "/readyz" ? "Readiness: this control plane reaches Redis" : "Liveness of this control plane process",
      response: probe,
    },
  }));
}
