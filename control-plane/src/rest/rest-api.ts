import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import type { ApiContext } from "../api/api-context.ts";
import { parseStrictJson } from "../json/strict-json.ts";
import { fleetRoutes } from "./fleet-routes.ts";
import { instanceRoutes } from "./instance-routes.ts";
import { methodNotAllowed } from "./method-not-allowed.ts";
import { probeRoutes } from "./probe-routes.ts";
import { installRestAuth } from "./rest-auth.ts";
import { serviceDiscoveryRoutes } from "./service-discovery-routes.ts";

/** Keys refused anywhere in a body: they would reach object prototypes in careless code. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor"]);

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
 * malformed JSON a 400 naming the position; invalid UTF-8, lone surrogates and duplicate keys
 * each a 400 naming the field, see json/strict-json.ts), no ajv (bodies are validated by the
 * shared zod schemas inside the service, so REST and Connect accept exactly the same input; route
 * schemas only document), JSON.stringify responses (route schemas never strip fields), bearer-token
 * checks, and 405 with `Allow` for known paths called with the wrong method.
 */
export async function restApi(app: FastifyInstance, options: RestApiOptions): Promise<void> {
  const { ctx } = options;
  app.removeContentTypeParser("application/json");
  const parseJson = (_req: unknown, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    try {
      // tei-manager clients often POST start/stop with a JSON content type and no body: blank is
      // `undefined`. Prototype-poisoning keys are refused outright, as Fastify's own parser does.
      done(null, parseStrictJson(body, { forbiddenKeys: FORBIDDEN_KEYS }));
    } catch (err) {
      done(err as Error, undefined);
    }
  };
  // As bytes: the strict reader refuses a body that is not UTF-8 instead of reading U+FFFD.
  app.addContentTypeParser("application/json", { parseAs: "buffer", bodyLimit: options.bodyLimit }, parseJson);
  app.addContentTypeParser(/^application\/[\w.+-]*\+json$/, { parseAs: "buffer", bodyLimit: options.bodyLimit }, parseJson);
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  installRestAuth(app, ctx.auth);
  const wrongMethod = methodNotAllowed(app);
  await fleetRoutes(app, ctx);
  await probeRoutes(app, ctx);
  await instanceRoutes(app, ctx);
  await serviceDiscoveryRoutes(app, ctx);
  for (const plugin of options.plugins ?? []) await app.register(plugin);
  wrongMethod.install();
}
