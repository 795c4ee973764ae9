import type { HealthEndpoint } from "./health-checks.ts";

/**
 * The probe endpoints on a service's own Fastify app (the control plane and the agent have one),
 * so that they answer exactly as on the kit's health server. Typed structurally: core does not
 * depend on Fastify.
 */

/** The part of a Fastify reply the routes use. */
export interface ReplyLike {
  code(statusCode: number): ReplyLike;
  type(contentType: string): ReplyLike;
  send(payload: string): unknown;
}

/** The part of a Fastify instance the routes use. */
export interface RouteHost {
  get(path: string, options: object, handler: (request: unknown, reply: ReplyLike) => Promise<unknown>): unknown;
}

/**
 * Adds a GET route per endpoint. `routeOptions` are passed to each route as Fastify route options
 * (the control plane marks them `config: { access: "open" }` and gives them an OpenAPI schema).
 */
export function addHealthRoutes(app: RouteHost, endpoints: readonly HealthEndpoint[], routeOptions: (endpoint: HealthEndpoint) => object = () => ({})): void {
  for (const endpoint of endpoints) {
    app.get(endpoint.path, routeOptions(endpoint), async (_request, reply) => {
      const answer = await endpoint.answer();
      return reply.code(answer.statusCode).type(answer.contentType).send(answer.body);
    });
  }
}
