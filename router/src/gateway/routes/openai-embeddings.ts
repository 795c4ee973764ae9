/**
 * OpenAI's `POST /v1/embeddings` (and `/embeddings`, for clients whose base URL lacks `/v1`):
 * `input` as a string, strings (at most 2,048), or tiktoken id arrays (decoded, see
 * tiktoken-input.ts); `encoding_format` float or base64 (the SDKs' default: the packed float32
 * bytes of TEI's answer, base64'd as they are); `dimensions`; `user` (accepted, not used).
 * Like TEI's own OpenAI route, texts are truncated at the model's limit on the right and
 * normalized; `model` in the answer is the name the client asked for. The body is read and the
 * answer written by embeddings-shapes.ts, shared with remote TEI backends.
 */
import { embeddingsAnswer, readEmbeddings } from "../embeddings-shapes.ts";
import type { GatewayRequest, RouteSpec } from "../gateway-request.ts";
import type { EmbedOptions } from "../grpc-request.ts";
import { embedTexts } from "./dense-embed.ts";

const OPTIONS: EmbedOptions = { truncate: true, direction: 0, promptName: undefined };

async function handle(rq: GatewayRequest, body: Record<string, unknown>): Promise<void> {
  const q = await readEmbeddings(body);
  embedTexts(rq, q.texts, OPTIONS, true, q.dimensions, (vectors, meta) => {
    rq.ok(embeddingsAnswer(rq.resolved.name, vectors, q.base64, meta.tokens), meta);
  });
}

/** The route, under both paths. */
export const OPENAI_EMBEDDINGS: RouteSpec = { name: "/v1/embeddings", family: "openai", method: "POST", needsModel: true, handler: handle };
