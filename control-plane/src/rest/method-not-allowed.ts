import type { FastifyInstance } from "fastify";
import { ApiError } from "../errors/api-error.ts";
import { sendError } from "./rest-errors.ts";

const METHODS = ["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT", "OPTIONS"] as const;

/**
 * Answers a known path called with the wrong method with 405 and an `Allow` header (Fastify
 * alone answers 404). Call `track` before registering routes and `install` after: every path
 * registered in between gets a hidden route for the methods it does not serve.
 */
export function methodNotAllowed(app: FastifyInstance): { install(): void } {
  const allowed = new Map<string, Set<string>>();
  app.addHook("onRoute", (route) => {
    if (route.config && (route.config as { methodNotAllowed?: boolean }).methodNotAllowed) return;
    const set = allowed.get(route.url) ?? new Set<string>();
    for (const m of [route.method].flat()) set.add(m);
    allowed.set(route.url, set);
  });
  return {
    install() {
      for (const [url, set] of allowed) {
        const missing = METHODS.filter((m) => !set.has(m));
        if (missing.length === 0) continue;
        const allow = [...set].sort().join(", ");
        app.route({
          method: [...missing],
          url,
          config: { methodNotAllowed: true, access: "open" },
          handler: async (request, reply) =>
            sendError(reply, new ApiError("METHOD_NOT_ALLOWED", `${request.method} is not allowed on ${url}; allowed: ${allow}`, { headers: { allow } })),
        });
      }
    },
  };
}
