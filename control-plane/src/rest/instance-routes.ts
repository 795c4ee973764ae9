import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ApiContext } from "../api/api-context.ts";
import { ApiError } from "../errors/api-error.ts";
import { instanceHealth } from "../instances/instance-health.ts";
import { instanceInfo } from "../instances/instance-info.ts";
import { fetchInstanceLogs } from "../instances/instance-logs.ts";
import { instanceView } from "../instances/instance-view.ts";
import type { StoredInstance } from "../store/instance-repository.ts";
import { instanceEtag, underIfMatch } from "./if-match.ts";
import {
  CreateInstanceBody,
  errorResponses,
  InstanceHealthSchema,
  InstanceInfoSchema,
  InstanceViewSchema,
  jsonSchema,
  LogsQuery,
  LogsSchema,
  NameParams,
  UpdateInstanceBody,
} from "./schemas.ts";

const name = (params: unknown) => (params as { name: string }).name;

/** Sends an instance with its ETag, the one If-Match takes back. */
function sendInstance(reply: FastifyReply, stored: StoredInstance, status = 200) {
  return reply.code(status).header("etag", instanceEtag(stored.instance.revision)).send(instanceView(stored.instance, stored.replicas));
}

/**
 * tei-manager's instance routes (create, list, get, delete, start, stop, restart) plus PATCH,
 * health, info and logs. Every handler is a thin adapter over the shared InstanceService.
 */
export async function instanceRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const tags = ["instances"];
  const params = jsonSchema(NameParams);
  const view = jsonSchema(InstanceViewSchema);
  const write = {
    headers: {
      type: "object",
      properties: {
        "if-match": { type: "string", description: "The instance's ETag the change is based on (or its bare revision); 412 if it is no longer current" },
      },
    },
  };
  /** Runs a write under the request's If-Match (see if-match.ts). */
  const conditional = <T>(request: FastifyRequest, run: (expectedRevision: bigint | undefined) => Promise<T>) =>
    underIfMatch(ctx.instances, name(request.params), request.headers["if-match"], run);

  app.get(
    "/instances",
    {
      schema: { tags, summary: "List instances", response: { 200: { type: "array", items: view } } },
    },
    async () => (await ctx.instances.list()).map((s) => instanceView(s.instance, s.replicas)),
  );

  app.post(
    "/instances",
    {
      schema: {
        tags,
        summary: "Create an instance",
        description:
          "tei-manager's CreateInstanceRequest plus placement fields. `port` and `prometheus_port` are allocated on the node when absent. A retry with the same Idempotency-Key returns the first result (201, header idempotent-replayed: true); the same key with another body is 422.",
        headers: { type: "object", properties: { "idempotency-key": { type: "string", description: "Makes retries of this create safe (kept 24 h)" } } },
        body: jsonSchema(CreateInstanceBody, "input"),
        response: { 201: view, ...errorResponses(400, 401, 403, 409, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const key = request.headers["idempotency-key"];
      const { stored, replayed } = await ctx.instances.create(request.body, { idempotencyKey: Array.isArray(key) ? key[0] : key });
      if (replayed) reply.header("idempotent-replayed", "true");
      reply.header("location", `/instances/${stored.instance.spec?.name ?? ""}`);
      return sendInstance(reply, stored, 201);
    },
  );

  app.get(
    "/instances/:name",
    {
      schema: { tags, summary: "Get an instance", params, response: { 200: view, ...errorResponses(404) } },
    },
    async (request, reply) => sendInstance(reply, await ctx.instances.get(name(request.params))),
  );

  app.patch(
    "/instances/:name",
    {
      schema: {
        tags,
        summary: "Change an instance's spec",
        params,
        ...write,
        description:
          "Fields present replace the spec's; null resets a field to its default. Bumps the revision; the new process is started before the old one stops where resources allow.",
        body: jsonSchema(UpdateInstanceBody, "input"),
        response: { 200: view, ...errorResponses(400, 404, 409, 412) },
      },
    },
    async (request, reply) =>
      sendInstance(reply, await conditional(request, (expectedRevision) => ctx.instances.update(name(request.params), request.body, { expectedRevision }))),
  );

  app.delete(
    "/instances/:name",
    {
      schema: {
        tags,
        summary: "Delete an instance",
        params,
        ...write,
        response: { 204: { type: "null", description: "Deleted" }, ...errorResponses(400, 404, 412) },
      },
    },
    async (request, reply) => {
      await conditional(request, (expectedRevision) => ctx.instances.delete(name(request.params), { expectedRevision }));
      return reply.code(204).send();
    },
  );

  for (const action of ["start", "stop", "restart"] as const) {
    app.post(
      `/instances/:name/${action}`,
      {
        schema: {
          tags,
          summary: `${action[0]!.toUpperCase()}${action.slice(1)} an instance`,
          params,
          ...write,
          response: { 200: view, ...errorResponses(400, 404, 409, 412) },
        },
      },
      async (request, reply) => {
        const n = name(request.params);
        // restart leaves the spec (and so the revision) alone: its If-Match is checked, not pinned.
        const stored = await conditional(request, (expectedRevision) =>
          action === "start"
            ? ctx.instances.start(n, { expectedRevision })
            : action === "stop"
              ? ctx.instances.stop(n, { expectedRevision })
              : ctx.instances.restart(n),
        );
        return sendInstance(reply, stored);
      },
    );
  }

  app.get(
    "/instances/:name/health",
    {
      schema: { tags, summary: "Health of one instance", params, response: { 200: jsonSchema(InstanceHealthSchema), ...errorResponses(404) } },
    },
    async (request) => instanceHealth(await ctx.instances.get(name(request.params))),
  );

  app.get(
    "/instances/:name/info",
    {
      schema: {
        tags,
        summary: "Configuration, health, model facts and request metrics of one instance",
        params,
        description:
          "Model facts come from TEI's Info RPC (reported by the agent); request metrics are scraped live from the replicas' TEI Prometheus endpoints (null, with metrics_error, when none answers).",
        response: { 200: jsonSchema(InstanceInfoSchema), ...errorResponses(404) },
      },
    },
    async (request) => instanceInfo(await ctx.instances.get(name(request.params)), ctx.scrapeTimeoutMs),
  );

  app.get(
    "/instances/:name/logs",
    {
      schema: {
        tags,
        summary: "Recent TEI output of an instance, read through its node agent",
        params,
        querystring: jsonSchema(LogsQuery, "input"),
        response: { 200: jsonSchema(LogsSchema), ...errorResponses(400, 404, 503) },
      },
    },
    async (request) => {
      const query = LogsQuery.safeParse(request.query);
      if (!query.success) {
        const field = String(query.error.issues[0]?.path[0] ?? "tail");
        throw new ApiError(
          "VALIDATION_ERROR",
          `query parameter '${field}' ${field === "tail" ? "must be an integer between 1 and 10000" : "must be a replica index (0-63)"}`,
          { field },
        );
      }
      const stored = await ctx.instances.get(name(request.params));
      return fetchInstanceLogs(stored, query.data.tail, query.data.replica, { nodes: ctx.nodes, agentToken: ctx.agentToken, timeoutMs: ctx.agentTimeoutMs });
    },
  );
}
