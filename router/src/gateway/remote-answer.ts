/**
 * The answer of a request a remote backend served: the body, `x-tei-backend: <name>`, and for a
 * TEI backend its timing headers (remote-timings.ts); the tokens the backend counted go to the
 * request's admission call, for a key's tokens-per-minute limit, as the gRPC path's do.
 */
import type { GatewayRequest } from "./gateway-request.ts";
import type { RemoteTarget } from "./remote-backend-target.ts";
import type { RemoteTimings } from "./remote-timings.ts";

const JSON_TYPE = "application/json";

/** Notes the upstream's token count for a key's tokens-per-minute limit. */
export function noteTokens(rq: GatewayRequest, tokens: number): void {
  const call = rq.admission;
  if (call !== null && call.computeTokens === 0 && Number.isFinite(tokens) && tokens > 0) call.computeTokens = tokens;
}

/** Answers 200 with the JSON `body`, naming the backend; `timings` null: no timing headers. */
export function answerRemote(rq: GatewayRequest, t: RemoteTarget, body: string, timings: RemoteTimings | null): void {
  if (timings === null) {
    rq.send(200, body, JSON_TYPE, ["x-tei-backend", t.name]);
    return;
  }
  noteTokens(rq, timings.tokens);
  rq.send(200, body, JSON_TYPE, ["x-tei-backend", t.name, ...timings.headers(rq.startedAt)]);
}
