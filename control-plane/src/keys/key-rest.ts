import { ApiKeyBody, keyToJson, RotateBody } from "@tei-fleet/core/keys";
import type { ApiKey } from "@tei-fleet/proto/fleet/v1";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ifMatchCondition, PageQuery, pageQuery } from "../catalog/catalog-rest.ts";
import { errorResponses, jsonSchema } from "../rest/schemas.ts";
import type { ApiKeyService, IssuedKey } from "./api-key-service.ts";

const idOf = (request: FastifyRequest) => (request.params as { id: string }).id;

/** Sends a key with its ETag. */
const send = (reply: FastifyReply, key: ApiKey, status = 200) => reply.code(status).header("etag", `"${key.revision}"`).send(keyToJson(key));

/**
 * The one answer that holds a secret: never cached by anything in between (`no-store`), the
 * secret beside the record rather than in it, so a client that stores records never stores it.
 */
const sendIssued = (reply: FastifyReply, issued: IssuedKey, status: number) =>
  reply
    .code(status)
    .header("etag", `"${issued.key.revision}"`)
    .header("cache-control", "no-store")
    .send({ ...keyToJson(issued.key), secret: issued.secret });

const conditional = {
  headers: {
    type: "object",
    properties: { "if-match": { type: "string", description: "The key's ETag the change is based on; 412 if it is no longer current" } },
  },
};

/**
 * API keys over REST: `POST /keys` (the answer holds the key, once), `GET /keys` (paged),
 * `GET|PUT|DELETE /keys/{id}`, `POST /keys/{id}/rotate` (a new key, once) and
 * `POST /keys/{id}/revoke`. Admin token to change, read token to look; nothing ever returns a key
 * again, nor its hash.
 */
export async function keyRestPlugin(app: FastifyInstance, options: { keys: ApiKeyService }): Promise<void> {
  const { keys } = options;
  const tags = ["keys"];
  app.get(
    "/keys",
    { schema: { tags, summary: "List API keys", querystring: jsonSchema(PageQuery, "input"), response: errorResponses(400) } },
    async (request) => {
      const { after, limit } = pageQuery(request.query);
      const page = await keys.list(after, limit);
      return { keys: page.keys.map((k) => keyToJson(k)), next_cursor: page.next };
    },
  );
  app.post(
    "/keys",
    {
      schema: {
        tags,
        summary: "Create an API key",
        description: "The answer's `secret` is the key: it is shown here once and never again (the fleet keeps its SHA-256 only).",
        body: jsonSchema(ApiKeyBody, "input"),
        response: errorResponses(400),
      },
    },
    async (request, reply) => {
      const issued = await keys.create(request.body);
      reply.header("location", `/keys/${issued.key.id}`);
      return sendIssued(reply, issued, 201);
    },
  );
  app.get("/keys/:id", { schema: { tags, summary: "Get an API key (never the key itself)", response: errorResponses(400, 404) } }, async (request, reply) =>
    send(reply, await keys.get(idOf(request))),
  );
  app.put(
    "/keys/:id",
    {
      schema: {
        tags,
        summary: "Replace an API key's settings",
        ...conditional,
        body: jsonSchema(ApiKeyBody, "input"),
        response: errorResponses(400, 404, 409, 412),
      },
    },
    async (request, reply) => send(reply, await keys.update(idOf(request), request.body, ifMatchCondition(request))),
  );
  app.post(
    "/keys/:id/rotate",
    {
      schema: {
        tags,
        summary: "Give an API key a new secret",
        ...conditional,
        body: jsonSchema(RotateBody, "input"),
        response: errorResponses(400, 404, 409, 412),
      },
    },
    async (request, reply) => sendIssued(reply, await keys.rotate(idOf(request), request.body, ifMatchCondition(request)), 200),
  );
  app.post(
    "/keys/:id/revoke",
    { schema: { tags, summary: "Revoke an API key everywhere", ...conditional, response: errorResponses(400, 404, 409, 412) } },
    async (request, reply) => send(reply, await keys.revoke(idOf(request), ifMatchCondition(request))),
  );
  app.delete(
    "/keys/:id",
    { schema: { tags, summary: "Delete an API key", ...conditional, response: errorResponses(400, 404, 412) } },
    async (request, reply) => {
      await keys.delete(idOf(request), ifMatchCondition(request));
      return reply.code(204).send();
    },
  );
}
