/**
 * Dense embeddings of a request's texts, shared by `/embed`, `/v1/embeddings` and `/similarity`:
 * one unary `Embed` per text, sent in chunks of the model's `max_client_batch_size` across its
 * replicas in parallel (tei-batch.ts), answered in input order with their Metadata summed. The
 * vectors stay TEI's packed float32 bytes until the route writes them out.
 */
import { METHODS, type MethodSpec } from "../../tei/method-table.ts";
import { invalidField } from "../gateway-error.ts";
import type { GatewayRequest } from "../gateway-request.ts";
import { type EmbedOptions, embedRequest } from "../grpc-request.ts";
import { embeddingBytes, MetaSum } from "../grpc-response.ts";

/** tei.v1.Embed/Embed. */
export const EMBED = METHODS.get("/tei.v1.Embed/Embed") as MethodSpec;

/**
 * How many of a request's calls run at once, and into how many chunks it splits: a chunk of
 * `max_client_batch_size` inputs per replica at a time, so one request spreads over the model's
 * replicas without taking more of a replica's permits than one TEI batch would.
 */
export function plan(rq: GatewayRequest, inputs: number): { window: number; chunks: number } {
  const size = rq.gw.models.clientBatch(rq.resolved);
  const chunks = Math.ceil(inputs / size);
  rq.inputs = inputs;
  rq.chunks = chunks;
  if (inputs > 1) rq.gw.metrics.split(rq.route.name, inputs, chunks);
  // Unary calls take TEI's permits without waiting: never more at once per replica than it has.
  const permits = rq.gw.models.infoOf(rq.resolved)?.maxConcurrentRequests || size;
  return { window: Math.min(size, permits) * Math.max(1, rq.resolved.replicas), chunks };
}

/**
 * Embeds `texts`; `then` receives each vector's float32 bytes by position, and the summed
 * Metadata. `dimensions` above the model's known size is refused before any inference.
 */
export function embedTexts(
  rq: GatewayRequest,
  texts: readonly string[],
  o: EmbedOptions,
  normalize: boolean | undefined,
  dimensions: number | undefined,
  then: (vectors: Buffer[], meta: MetaSum) => void,
): void {
  const m = rq.resolved;
  const known = rq.gw.models.dims(m);
  if (dimensions !== undefined && known > 0 && dimensions > known) {
    throw invalidField("dimensions", `${dimensions} is larger than the model's embedding size ${known}`);
  }
  const n = texts.length;
  const frames = new Array<Buffer>(n);
  for (let i = 0; i < n; i++) frames[i] = embedRequest(texts[i] as string, o, normalize, dimensions);
  const { window } = plan(rq, n);
  rq.run(EMBED, frames, window, (b) => {
    const meta = new MetaSum();
    const vectors = new Array<Buffer>(n);
    for (let i = 0; i < n; i++) vectors[i] = embeddingBytes(b.answers[i] as Buffer, meta);
    if (dimensions === undefined && known === 0 && n > 0) rq.gw.models.learnDims(m, (vectors[0] as Buffer).length >> 2);
    then(vectors, meta);
  });
}
