import {
  AliasBody,
  aliasToJson,
  BackendBody,
  backendToJson,
  catalogNameResult,
  EnabledBody,
  ModelBody,
  modelIdResult,
  modelToJson,
  parseEnabled,
} from "@tei-fleet/core/catalog";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { ApiError } from "../errors/api-error.ts";
import { parseIfMatch } from "../rest/if-match.ts";
import { errorResponses, jsonSchema } from "../rest/schemas.ts";
import { accepted } from "./catalog-errors.ts";
import type { WriteCondition, WriteResult } from "./catalog-writes.ts";
import type { Catalog } from "./create-catalog.ts";

/** `?after=&limit=` of every catalog list: pages in key order. */
export const PageQuery = z.object({
  after: z.string().max(1024).default("").describe("Cursor: next_cursor of the previous page; empty for the first"),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe("Entries per page (1-1000, default 100)"),
});

/** The page query, or a 400 naming the parameter. */
export function pageQuery(query: unknown): z.infer<typeof PageQuery> {
  const parsed = PageQuery.safeParse(query);
  if (parsed.success) return parsed.data;
  const field = String(parsed.error.issues[0]?.path[0] ?? "limit");
  throw new ApiError(
    "VALIDATION_ERROR",
    `query parameter '${field}' ${field === "limit" ? "must be an integer between 1 and 1000" : "must be at most 1024 characters"}`,
    { field },
  );
}

/** A REST If-Match as a write condition (see rest/if-match.ts for what it accepts). */
export function ifMatchCondition(request: FastifyRequest): WriteCondition {
  const parsed = parseIfMatch(request.headers["if-match"]);
  return parsed === undefined ? undefined : { kind: "if-match", ...parsed };
}

/** One kind of entry, as its routes need it. */
interface EntryRoutes<T> {
  /** e.g. "/catalog/aliases" */
  base: string;
  /** The path parameter: ":name", or "*" for model ids (they hold '/'). */
  param: ":name" | "*";
  /** The list's field in the page, e.g. "aliases". */
  plural: string;
  summary: string;
  body: z.ZodType;
  /** Checks the path's key (400 naming the field). */
  check(key: string): void;
  toJson(entry: T): Record<string, unknown>;
  revisionOf(entry: T): bigint;
  get(key: string): Promise<T>;
  list(after: string, limit: number): Promise<{ entries: T[]; next: string }>;
  put(key: string, body: unknown, condition: WriteCondition): Promise<WriteResult<T>>;
  setEnabled(key: string, body: unknown, condition: WriteCondition): Promise<T>;
  delete(key: string, condition: WriteCondition): Promise<void>;
}

const conditional = {
  headers: {
    type: "object",
    properties: { "if-match": { type: "string", description: "The entry's ETag the change is based on; 412 if it is no longer current" } },
  },
};

/** GET list, GET, PUT, PATCH (enable/disable), DELETE of one kind of entry, with ETags. */
function entryRoutes<T>(app: FastifyInstance, r: EntryRoutes<T>): void {
  const tags = ["catalog"];
  const keyOf = (request: FastifyRequest) => {
    const params = request.params as Record<string, string>;
    const key = r.param === "*" ? (params["*"] ?? "") : (params.name ?? "");
    r.check(key);
    return key;
  };
  const send = (reply: FastifyReply, entry: T, status = 200) =>
    reply
      .code(status)
      .header("etag", `"${r.revisionOf(entry)}"`)
      .send(r.toJson(entry));
  const path = `${r.base}/${r.param}`;

  app.get(
    r.base,
    { schema: { tags, summary: `List ${r.plural}`, querystring: jsonSchema(PageQuery, "input"), response: errorResponses(400) } },
    async (request) => {
      const { after, limit } = pageQuery(request.query);
      const page = await r.list(after, limit);
      return { [r.plural]: page.entries.map(r.toJson), next_cursor: page.next };
    },
  );
  app.get(path, { schema: { tags, summary: `Get ${r.summary}`, response: errorResponses(400, 404) } }, async (request, reply) =>
    send(reply, await r.get(keyOf(request))),
  );
  app.put(
    path,
    {
      schema: {
        tags,
        summary: `Create or replace ${r.summary}`,
        description:
          "The whole entry: fields left out take their defaults. 201 when created. A PUT of what is stored changes nothing (no revision, event or delta).",
        ...conditional,
        body: jsonSchema(r.body, "input"),
        response: errorResponses(400, 404, 412, 422),
      },
    },
    async (request, reply) => {
      const key = keyOf(request);
      const result = await r.put(key, request.body, ifMatchCondition(request));
      if (result.created) reply.header("location", `${r.base}/${key}`);
      return send(reply, result.entry as T, result.created ? 201 : 200);
    },
  );
  app.patch(
    path,
    {
      schema: {
        tags,
        summary: `Enable or disable ${r.summary}`,
        ...conditional,
        body: jsonSchema(EnabledBody, "input"),
        response: errorResponses(400, 404, 412),
      },
    },
    async (request, reply) => {
      const key = keyOf(request);
      return send(reply, await r.setEnabled(key, request.body, ifMatchCondition(request)));
    },
  );
  app.delete(path, { schema: { tags, summary: `Delete ${r.summary}`, ...conditional, response: errorResponses(400, 404, 412) } }, async (request, reply) => {
    await r.delete(keyOf(request), ifMatchCondition(request));
    return reply.code(204).send();
  });
}

/**
 * The catalog's REST routes, in tei-manager's style: `/catalog/aliases/{name}`,
 * `/catalog/models/{model_id}` (the id's '/' kept as is, `BAAI/bge-small-en-v1.5`),
 * `/catalog/backends/{name}`, each with GET, PUT (whole entry), PATCH `{"enabled": false,
 * "reason": ...}` and DELETE, If-Match on writes and an ETag on answers, and paged lists.
 * Registered inside the REST context, so the same tokens, JSON parser and errors apply.
 */
export async function catalogRestPlugin(app: FastifyInstance, options: { catalog: Catalog }): Promise<void> {
  const { aliases, models, backends } = options.catalog;
  entryRoutes(app, {
    base: "/catalog/aliases",
    param: ":name",
    plural: "aliases",
    summary: "an alias",
    body: AliasBody,
    check: (name) => accepted(catalogNameResult("alias", name)),
    toJson: aliasToJson,
    revisionOf: (a) => a.revision,
    get: (name) => aliases.get(name),
    list: async (after, limit) => {
      const page = await aliases.list(after, limit);
      return { entries: page.aliases, next: page.next };
    },
    put: (name, body, condition) => aliases.put(name, body, condition),
    setEnabled: (name, body, condition) => aliases.setEnabled(name, accepted(parseEnabled(body)), condition),
    delete: (name, condition) => aliases.delete(name, condition),
  });
  entryRoutes(app, {
    base: "/catalog/models",
    param: "*",
    plural: "models",
    summary: "a model entry",
    body: ModelBody,
    check: (id) => accepted(modelIdResult(id)),
    toJson: modelToJson,
    revisionOf: (m) => m.revision,
    get: (id) => models.get(id),
    list: async (after, limit) => {
      const page = await models.list(after, limit);
      return { entries: page.models, next: page.next };
    },
    put: (id, body, condition) => models.put(id, body, condition),
    setEnabled: (id, body, condition) => models.setEnabled(id, accepted(parseEnabled(body)), condition),
    delete: (id, condition) => models.delete(id, condition),
  });
  entryRoutes(app, {
    base: "/catalog/backends",
    param: ":name",
    plural: "backends",
    summary: "a remote backend",
    body: BackendBody,
    check: (name) => accepted(catalogNameResult("backend", name)),
    toJson: backendToJson,
    revisionOf: (b) => b.revision,
    get: (name) => backends.get(name),
    list: async (after, limit) => {
      const page = await backends.list(after, limit);
      return { entries: page.backends, next: page.next };
    },
    put: (name, body, condition) => backends.put(name, body, condition),
    setEnabled: (name, body, condition) => backends.setEnabled(name, accepted(parseEnabled(body)), condition),
    delete: (name, condition) => backends.delete(name, condition),
  });
}
