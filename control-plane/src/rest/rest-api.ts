import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import type { ApiContext } from "../api-context.ts";
import { ApiError } from "../errors/api-error.ts";
import { fleetRoutes } from "./fleet-routes.ts";
import { instanceRoutes } from "./instance-routes.ts";
import { methodNotAllowed } from "./method-not-allowed.ts";
import { serviceDiscoveryRoutes } from "./service-discovery-routes.ts";
import { installRestAuth } from "./rest-auth.ts";

/** Options of {@link restApi}. */
export interface RestApiOptions {
  ctx: ApiContext;
  /** Largest accepted JSON body, bytes. */
  bodyLimit: number;
  /** More REST plugins served under the same auth and error rules (the scheduler's node routes). */
  plugins?: FastifyPluginAsync[];
}

/**
 * The REST API as one encapsulated Fastify context: its own JSON parser (empty body allowed,
 * malformed JSON a 400 naming the position), no ajv (bodies are validated by the shared zod
 * schemas inside the service, so REST and Connect accept exactly the same input; route schemas
 * only document), JSON.stringify responses (route schemas never strip fields), bearer-token
 * checks, and 405 with `Allow` for known paths called with the wrong method.
 */
export async function restApi(app: FastifyInstance, options: RestApiOptions): Promise<void> {
  const { ctx } = options;
  app.removeContentTypeParser("application/json");
  const parseJson = (_req: unknown, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    const text = String(body);
    // tei-manager clients often POST start/stop with a JSON content type and no body.
    if (text.trim() === "") return done(null, undefined);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text, (key, value: unknown) => {
        // Prototype-poisoning keys are refused outright, as Fastify's own parser does.
        if (key === "__proto__" || key === "constructor") throw new ApiError("VALIDATION_ERROR", `field '${key}' is not allowed`, { field: key });
        return value;
      });
    } catch (err) {
      return done(err instanceof ApiError ? err : new ApiError("INVALID_JSON", `request body is not valid JSON: ${(err as Error).message}`), undefined);
    }
    done(null, parsed);
  };
  app.addContentTypeParser("application/json", { parseAs: "string", bodyLimit: options.bodyLimit }, parseJson);
  app.addContentTypeParser(/^application\/[\w.+-]*\+json$/, { parseAs: "string", bodyLimit: options.bodyLimit }, parseJson);
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  installRestAuth(app, ctx.auth);
  const wrongMethod = methodNotAllowed(app);
  await fleetRoutes(app, ctx);
  await instanceRoutes(app, ctx);
  await serviceDiscoveryRoutes(app, ctx);
  for (const plugin of options.plugins ?? []) await app.register(plugin);
  wrongMethod.install();
}
