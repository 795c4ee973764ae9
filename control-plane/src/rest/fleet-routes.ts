import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../api/api-context.ts";
import { ApiError } from "../errors/api-error.ts";
import { eventJson, readEvents } from "../events/event-reader.ts";
import { fleetHealth } from "../instances/instance-health.ts";
import { EventPageSchema, EventsQuery, errorResponses, FleetHealthSchema, HealthSchema, jsonSchema } from "./schemas.ts";

/**
 * Fleet-wide routes: liveness (`/health`, open), the health of every instance (`/health/all`),
 * Prometheus metrics (`/metrics`, open) and the event log (`/events`, cursor-paged).
 */
export async function fleetRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get(
    "/health",
    {
      config: { access: "open" },
      schema: {
        tags: ["fleet"],
        summary: "Liveness of this control plane (tei-manager's /health)",
        description: "Answers 200 while the process serves requests; it does not look at Redis or instances (see /health/all).",
        response: { 200: jsonSchema(HealthSchema) },
      },
    },
    async () => ({ status: "healthy", timestamp: new Date().toISOString() }),
  );

  app.get(
    "/health/all",
    {
      schema: {
        tags: ["fleet"],
        summary: "Health of every instance",
        description:
          "overall_status over the instances meant to run: healthy (all healthy, or none meant to run), degraded (some unhealthy), critical (more than half unhealthy), down (all unhealthy). Instances stopped by request are listed and counted in stopped_count only.",
        response: { 200: jsonSchema(FleetHealthSchema) },
      },
    },
    async () => fleetHealth(await ctx.instances.list()),
  );

  app.get(
    "/metrics",
    {
      config: { access: "open" },
      schema: { tags: ["fleet"], summary: "Prometheus metrics", produces: ["text/plain"] },
    },
    async (_request, reply) => {
      const text = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(text);
    },
  );

  app.get(
    "/events",
    {
      schema: {
        tags: ["fleet"],
        summary: "Fleet events after a cursor, oldest first",
        description:
          "Every change of an instance or node (created, placed, started, ready, unhealthy, restarted, failed, stopped, deleted; node joined, lost, cordoned, ...), from a bounded Redis Stream (about 10 000 kept). Pass next_cursor back as `after` to continue.",
        querystring: jsonSchema(EventsQuery, "input"),
        response: { 200: jsonSchema(EventPageSchema), ...errorResponses(400) },
      },
    },
    async (request) => {
      const query = EventsQuery.safeParse(request.query);
      if (!query.success) {
        const field = String(query.error.issues[0]?.path[0] ?? "limit");
        throw new ApiError("VALIDATION_ERROR", `query parameter '${field}' ${field === "limit" ? "must be an integer between 1 and 1000" : "is invalid"}`, {
          field,
        });
      }
      const page = await readEvents(ctx.redis, ctx.keys, query.data.after, query.data.limit);
      return { events: page.events.map(eventJson), next_cursor: page.nextCursor };
    },
  );
}
