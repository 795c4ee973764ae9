/**
 * tei.v1.Embed: Embed, EmbedSparse and EmbedAll with their bidirectional *Stream twins. Unary
 * calls take a permit without waiting (RESOURCE_EXHAUSTED when none is free); stream items wait.
 * Model-type mismatches are FAILED_PRECONDITION with TEI's messages, as in core/src/infer.rs.
 */
import { Code, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { Embed, type EmbedAllRequest, type EmbedRequest, type EmbedSparseRequest } from "@tei-fleet/proto/tei/v1";
import { denseEmbedding, sparseAsDense, sparseEmbedding, tokenEmbeddings } from "../fake-model.ts";
import { CLS_ID, codePointCount, ID_OFFSET, SEP_ID } from "../tokenizer.ts";
import { orderedStream, type Runtime } from "./runtime.ts";

/** Fails unless the model can embed (classifiers and rerankers cannot). */
function requireEmbedding(rt: Runtime): void {
  if (rt.model.kind !== "embedding") {
    throw rt.fail("model_type", Code.FailedPrecondition, "Model is not an embedding model");
  }
}

/** The fields every Embed* request shares. */
interface EmbedItemRequest {
  inputs: string;
  truncate: boolean;
  truncationDirection: number;
}

/**
 * Runs one Embed* item the way TEI does: admission (faults, API key), a permit (waited for in
 * streams, taken without waiting in unary calls), the model-type `check`, tokenization, then
 * `infer` on the tokenized text, with TEI's timings and metrics. `wait` selects the stream's
 * blocking permit.
 */
async function embedItem<R>(rt: Runtime, req: EmbedItemRequest, ctx: HandlerContext, wait: boolean, check: () => void, infer: (text: string) => R) {
  const t = await rt.acquire(ctx, wait);
  try {
    check();
    rt.metrics.inc("te_embed_count");
    rt.checkDirection(req.truncationDirection);
    const t0 = performance.now();
    const input = rt.tokenize(req.inputs, req.truncate, req.truncationDirection);
    t.tokenization = performance.now() - t0;
    const result = infer(input.text);
    const wait = await rt.forward(input.tokens);
    t.queue += wait.queue;
    t.inference = performance.now() - t0 - t.tokenization - wait.queue - wait.late;
    return { ...result, metadata: rt.finish(t, codePointCount(req.inputs), input.tokens, "te_embed") };
  } finally {
    rt.releasePermit();
  }
}

/** One Embed item. */
function embedOne(rt: Runtime, req: EmbedRequest, ctx: HandlerContext, wait: boolean) {
  const splade = rt.model.pooling === "splade";
  const normalize = req.normalize ?? true; // unset means true since TEI 1.9.0
  const full = splade ? rt.model.vocabSize : rt.model.dim;
  return embedItem(
    rt,
    req,
    ctx,
    wait,
    () => {
      if (splade && normalize) throw rt.fail("model_type", Code.FailedPrecondition, "`normalize` is not available for SPLADE models");
      if (req.dimensions === 0) throw rt.fail("validation", Code.InvalidArgument, "`dimensions` should be positive");
      requireEmbedding(rt);
    },
    (text) => {
      if (req.dimensions !== undefined && req.dimensions > full) {
        throw rt.fail("validation", Code.InvalidArgument, "`dimensions` should be smaller than the maximum embedding dimension.");
      }
      const embeddings = splade
        ? sparseAsDense(rt.model, text).slice(0, req.dimensions ?? full)
        : denseEmbedding(rt.model, text, req.dimensions ?? full, normalize);
      return { embeddings };
    },
  );
}

/** One EmbedSparse item. */
function embedSparseOne(rt: Runtime, req: EmbedSparseRequest, ctx: HandlerContext, wait: boolean) {
  return embedItem(
    rt,
    req,
    ctx,
    wait,
    () => {
      if (rt.model.pooling !== "splade") {
        throw rt.fail("model_type", Code.FailedPrecondition, "Model is not an embedding model with SPLADE pooling");
      }
    },
    (text) => ({ sparseEmbeddings: sparseEmbedding(rt.model, text) }),
  );
}

/** One EmbedAll item: a vector per token, [CLS] and [SEP] included. */
function embedAllOne(rt: Runtime, req: EmbedAllRequest, ctx: HandlerContext, wait: boolean) {
  return embedItem(
    rt,
    req,
    ctx,
    wait,
    () => {
      if (rt.model.pooling === "splade") {
        throw rt.fail("model_type", Code.FailedPrecondition, "`embed_all` is not available for SPLADE models");
      }
      requireEmbedding(rt);
    },
    (text) => {
      const ids = [CLS_ID];
      for (const ch of text) ids.push(ID_OFFSET + (ch.codePointAt(0) as number));
      ids.push(SEP_ID);
      return { tokenEmbeddings: tokenEmbeddings(rt.model, ids).map((embeddings) => ({ embeddings })) };
    },
  );
}

/** Registers tei.v1.Embed. */
export function registerEmbed(router: ConnectRouter, rt: Runtime): void {
  router.service(Embed, {
    embed(req, ctx) {
      return rt.single(ctx, () => embedOne(rt, req, ctx, false));
    },
    embedStream(reqs, ctx) {
      return orderedStream(reqs, (req) => embedOne(rt, req, ctx, true));
    },
    embedSparse(req, ctx) {
      // TEI 1.9.3 counts EmbedSparse and EmbedAll twice (tei.md §7).
      return rt.single(ctx, () => embedSparseOne(rt, req, ctx, false), 2);
    },
    embedSparseStream(reqs, ctx) {
      return orderedStream(reqs, (req) => embedSparseOne(rt, req, ctx, true));
    },
    embedAll(req, ctx) {
      // TEI 1.9.3 counts EmbedSparse and EmbedAll twice (tei.md §7).
      return rt.single(ctx, () => embedAllOne(rt, req, ctx, false), 2);
    },
    embedAllStream(reqs, ctx) {
      return orderedStream(reqs, (req) => embedAllOne(rt, req, ctx, true));
    },
  });
}
