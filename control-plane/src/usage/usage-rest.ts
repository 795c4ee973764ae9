import type { FastifyInstance } from "fastify";
import { ApiError } from "../errors/api-error.ts";
import { errorResponses } from "../rest/schemas.ts";
import { GROUP_BY, type GroupBy, parsePeriod, type UsageQuery } from "./usage-query.ts";

type Q = { from?: string; to?: string; group_by?: string };

/**
 * Usage over REST (read token or admin): `GET /keys/{id}/usage?from=&to=` (by model) and
 * `GET /usage?group_by=owner|key|model&from=&to=`. `from`/`to`: epoch ms or ISO 8601, hour
 * granularity; without them, all time.
 */
export async function usageRestPlugin(app: FastifyInstance, options: { usage: UsageQuery }): Promise<void> {
  const { usage } = options;
  const tags = ["usage"];
  app.get("/keys/:id/usage", { schema: { tags, summary: "An API key's usage by model", response: errorResponses(400, 404) } }, async (request) => {
    const q = request.query as Q;
    return usage.key((request.params as { id: string }).id, parsePeriod(q.from, q.to));
  });
  app.get("/usage", { schema: { tags, summary: "Usage of every active key, grouped", response: errorResponses(400) } }, async (request) => {
    const q = request.query as Q;
    const groupBy = q.group_by ?? "key";
    if (!(GROUP_BY as readonly string[]).includes(groupBy)) {
      throw new ApiError("VALIDATION_ERROR", `group_by must be one of ${GROUP_BY.join(", ")}`, { field: "group_by" });
    }
    const { named: _, ...body } = await usage.grouped(groupBy as GroupBy, parsePeriod(q.from, q.to));
    return body;
  });
}
