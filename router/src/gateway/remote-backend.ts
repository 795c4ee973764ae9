/**
 * Serving a request whose name resolved to a remote backend (the model catalog's
 * `catalog_backend`): the gateway calls the backend over HTTP with undici instead of making TEI
 * gRPC calls.
 *
 * - A backend of kind `tei` (an external TEI's HTTP API) serves every model route: TEI's own
 *   routes called as they are, OpenAI's and Cohere's / Jina's shapes translated onto TEI's
 *   `/embed` and `/rerank` (remote-tei-routes.ts).
 * - A backend of kind `openai` (any OpenAI-compatible embeddings API) serves embeddings only,
 *   `/v1/embeddings` and `/embed`, and a minimal `/info`; other routes are refused naming the
 *   kind and the route (remote-openai-routes.ts).
 *
 * Each call carries the upstream key as `authorization: Bearer` and nowhere else (not in a log
 * line, an error or a span), and the request's trace context; it counts for the backend's health
 * as this router sees it (remote-call.ts). Routes that take no model (`/health`, `/metrics`,
 * `/v1/models`) are the gateway's own: `/health` of a backend's name answers from its health
 * (service-routes.ts).
 */
import { GatewayError } from "./gateway-error.ts";
import type { GatewayRequest } from "./gateway-request.ts";
import type { RemoteTarget } from "./remote-backend-target.ts";
import { watchClient } from "./remote-call.ts";
import { serveOpenaiRemote } from "./remote-openai-routes.ts";
import { clientBatchOf, keptRemoteInfo, learnClientBatch, refusedBatchLimit } from "./remote-tei-info.ts";
import { teiRemoteRoute } from "./remote-tei-routes.ts";

/** Serves `rq` (its model resolved to `t`) on the remote backend. */
export async function serveRemote(rq: GatewayRequest, body: Record<string, unknown>, t: RemoteTarget): Promise<void> {
  // A client that leaves cancels the upstream calls.
  watchClient(rq);
  if (t.kind === "openai") return serveOpenaiRemote(rq, body, t);
  const route = teiRemoteRoute(rq.route.name);
  // Every route that takes a model has a handler; one added later without its remote side is refused, not guessed at.
  if (route === undefined) {
    throw new GatewayError(
      400,
      `model "${rq.resolved.name}" is served by the remote backend "${t.name}" of kind tei, which the gateway cannot call for ${rq.route.name}`,
      "Validation",
      "model",
      "unsupported_for_remote_backend",
    );
  }
  try {
    return await route(rq, body, t);
  } catch (err) {
    // A batch split by TEI's default (the backend's /info could not be read) that the backend
    // refused naming a smaller limit: learnt, and the request split again, once. Nothing was
    // answered yet: a route answers only when all its calls did.
    const limit = err instanceof GatewayError && err.status === 422 ? refusedBatchLimit(err.message) : undefined;
    if (limit === undefined || limit >= clientBatchOf(keptRemoteInfo(t))) throw err;
    learnClientBatch(t, limit);
    return route(rq, body, t);
  }
}
