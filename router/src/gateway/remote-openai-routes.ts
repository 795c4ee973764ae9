/**
 * The routes of a remote backend of kind `openai` (any OpenAI-compatible embeddings endpoint):
 * embeddings only, in either API.
 *
 * | route | upstream call |
 * |---|---|
 * | `POST /v1/embeddings` | `POST {url}/embeddings`, the body as sent with `model: upstream_model` |
 * | `POST /embed` (and seed 003's `{texts}`) | `POST {url}/embeddings` (float), answered as TEI's `[[...]]` (or seed 003's object) |
 * | `GET /info` | none: a minimal TEI `/info` of an embedding model, `model_id` the upstream model |
 *
 * Any other route is refused (400 `unsupported_for_remote_backend`, naming the kind and the
 * route): such an API has no rerank, classification or tokenizer to call.
 */
import { GatewayError } from "./gateway-error.ts";
import type { GatewayRequest } from "./gateway-request.ts";
import { optInt, textList } from "./json-fields.ts";
import { answerRemote, noteTokens } from "./remote-answer.ts";
import type { RemoteTarget } from "./remote-backend-target.ts";
import { badAnswer, callRemote } from "./remote-call.ts";

/** Inputs per request forwarded (OpenAI's limit). */
const MAX_INPUTS = 2048;

/** Serves `rq` on the OpenAI-compatible backend `t`. */
export async function serveOpenaiRemote(rq: GatewayRequest, body: Record<string, unknown>, t: RemoteTarget): Promise<void> {
  switch (rq.route.name) {
    case "/v1/embeddings":
      return embeddings(rq, body, t);
    case "/embed":
      return teiEmbed(rq, body, t);
    case "/info":
      return info(rq, t);
    default:
      throw new GatewayError(
        400,
        `model "${rq.resolved.name}" is served by the remote backend "${t.name}" of kind openai (an OpenAI-compatible embeddings API), ` +
          `which serves only /v1/embeddings, /embed and /info, not ${rq.route.name}`,
        "Validation",
        "model",
        "unsupported_for_remote_backend",
      );
  }
}

/** `POST /v1/embeddings`: the body passed on, the upstream's model named. */
async function embeddings(rq: GatewayRequest, body: Record<string, unknown>, t: RemoteTarget): Promise<void> {
  const name = rq.resolved.name;
  optInt(body, "dimensions", 1);
  const up = await callRemote(rq, t, "POST", "/embeddings", { ...body, model: t.upstreamModel || name });
  const answer = up.json as { data?: unknown; usage?: { prompt_tokens?: number } };
  if (typeof answer !== "object" || answer === null || !Array.isArray(answer.data)) throw badAnswer(t, "no `data` list");
  noteTokens(rq, Number(answer.usage?.prompt_tokens ?? 0));
  answerRemote(rq, t, JSON.stringify({ ...answer, model: name }), null);
}

/** TEI's `POST /embed` (and seed 003's `{model, texts}` shape) as OpenAI embeddings. */
async function teiEmbed(rq: GatewayRequest, body: Record<string, unknown>, t: RemoteTarget): Promise<void> {
  const seed = body.texts !== undefined && body.inputs === undefined;
  const texts = textList(seed ? body.texts : body.inputs, seed ? "texts" : "inputs", MAX_INPUTS);
  const dimensions = optInt(body, "dimensions", 1);
  const up = await callRemote(rq, t, "POST", "/embeddings", {
    model: t.upstreamModel || rq.resolved.name,
    input: texts,
    encoding_format: "float",
    ...(dimensions === undefined ? {} : { dimensions }),
  });
  const answer = up.json as { data?: { index?: number; embedding?: unknown }[]; usage?: { prompt_tokens?: number } };
  if (typeof answer !== "object" || answer === null || !Array.isArray(answer.data) || answer.data.length !== texts.length) {
    throw badAnswer(t, `expected ${texts.length} embeddings`);
  }
  const vectors = new Array<number[]>(texts.length);
  for (const d of answer.data) {
    const i = d.index ?? -1;
    if (!Number.isInteger(i) || i < 0 || i >= texts.length || !Array.isArray(d.embedding)) throw badAnswer(t, "an embedding without a valid index");
    vectors[i] = d.embedding as number[];
  }
  const tokens = Number(answer.usage?.prompt_tokens ?? 0);
  noteTokens(rq, tokens);
  rq.inputs = texts.length;
  if (!seed) {
    answerRemote(rq, t, JSON.stringify(vectors), null);
    return;
  }
  const dims = vectors.length > 0 ? (vectors[0] as number[]).length : 0;
  answerRemote(
    rq,
    t,
    JSON.stringify({ model: rq.resolved.name, embeddings: vectors, dimensions: dims, usage: { prompt_tokens: tokens, total_tokens: tokens } }),
    null,
  );
}

/**
 * `GET /info`: what the gateway knows without asking (an OpenAI-compatible API has no such
 * route): the upstream model as `model_id`, an embedding model, the inputs the gateway forwards
 * per request, the name called as `served_model_name`; what it cannot know is null.
 */
function info(rq: GatewayRequest, t: RemoteTarget): void {
  answerRemote(
    rq,
    t,
    JSON.stringify({
      model_id: t.upstreamModel || rq.resolved.name,
      model_sha: null,
      model_dtype: null,
      model_type: { embedding: { pooling: null } },
      max_client_batch_size: MAX_INPUTS,
      served_model_name: rq.resolved.name,
    }),
    null,
  );
}
