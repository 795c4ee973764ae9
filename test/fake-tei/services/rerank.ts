/**
 * tei.v1.Rerank: Rerank (unary, texts ≤ --max-client-batch-size, one awaited permit per text)
 * and RerankStream (client-streaming: one (query, text) per message, one response after the
 * client half-closes). Ranks are sorted by score, descending; `index` is the text's position.
 * An empty RerankStream aborts real TEI (a division by zero under panic=abort), so it does here.
 */
import { Code, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { Rerank, type RerankRequest, type RerankStreamRequest } from "@tei-fleet/proto/tei/v1";
import { rerankScore } from "../fake-model.ts";
import { panicAbort } from "../log.ts";
import { codePointCount } from "../tokenizer.ts";
import type { MetadataInit, Runtime, Timing } from "./runtime.ts";

/** TEI's model-type check for both Rerank RPCs (note TEI's odd message for embedding models). */
function requireReranker(rt: Runtime): void {
  if (rt.model.kind === "classifier") throw rt.fail("model_type", Code.FailedPrecondition, "model is not a re-ranker model");
  if (rt.model.kind === "embedding") throw rt.fail("model_type", Code.FailedPrecondition, "model is not a classifier model");
}

/** One scored pair, with the per-item figures that the response Metadata aggregates. */
interface Scored {
  index: number;
  text: string;
  score: number;
  tokens: number;
  tokenization: number;
  inference: number;
  queue: number;
}

/** Scores one (query, text) pair under an awaited permit. */
async function scoreOne(rt: Runtime, index: number, query: string, text: string, truncate: boolean, direction: number, rawScores: boolean): Promise<Scored> {
  const queued = performance.now();
  await rt.waitPermit();
  try {
    const permitWait = performance.now() - queued;
    rt.metrics.inc("te_predict_count");
    const t0 = performance.now();
    if (query.length === 0) throw rt.fail("validation", Code.InvalidArgument, "`inputs` cannot be empty");
    const input = rt.tokenize(text, truncate, direction, codePointCount(query) + 3);
    const tokenization = performance.now() - t0;
    const score = rerankScore(rt.model, query, input.text, rawScores);
    const wait = await rt.forward(input.tokens);
    const inference = performance.now() - t0 - tokenization - wait.queue - wait.late;
    return { index, text, score, tokens: input.tokens, tokenization, queue: permitWait + wait.queue, inference };
  } finally {
    rt.releasePermit();
  }
}

/** Builds the RerankResponse: ranks sorted by score, Metadata averaged over items like TEI. */
function respond(rt: Runtime, t: Timing, scored: Scored[], chars: number, returnText: boolean) {
  let tokens = 0;
  for (const s of scored) {
    tokens += s.tokens;
    t.tokenization += s.tokenization / scored.length;
    t.queue += s.queue / scored.length;
    t.inference += s.inference / scored.length;
  }
  const ranks = scored.map((s) => ({ index: s.index, score: s.score, text: returnText ? s.text : undefined })).sort((a, b) => b.score - a.score);
  rt.metrics.inc("te_request_success", `method="batch"`);
  const metadata: MetadataInit = rt.finish(t, chars, tokens, "te_predict");
  return { ranks, metadata };
}

/** Unary Rerank. */
async function rerank(rt: Runtime, req: RerankRequest, ctx: HandlerContext) {
  const t = rt.startTiming();
  if (req.texts.length === 0) throw rt.fail("validation", Code.InvalidArgument, "`texts` cannot be empty");
  requireReranker(rt);
  rt.metrics.inc("te_request_count", `method="batch"`);
  const max = rt.args.maxClientBatchSize;
  if (req.texts.length > max) {
    throw rt.fail("batch_size", Code.InvalidArgument, `batch size ${req.texts.length} > maximum allowed batch size ${max}`);
  }
  rt.checkDirection(req.truncationDirection);
  await rt.admit(ctx);
  let chars = codePointCount(req.query) * req.texts.length;
  for (const text of req.texts) chars += codePointCount(text);
  const scored = await Promise.all(req.texts.map((text, i) => scoreOne(rt, i, req.query, text, req.truncate, req.truncationDirection, req.rawScores)));
  return respond(rt, t, scored, chars, req.returnText);
}

/** Client-streaming RerankStream; raw_scores and return_text come from the first message. */
async function rerankStream(rt: Runtime, reqs: AsyncIterable<RerankStreamRequest>, ctx: HandlerContext) {
  const t = rt.startTiming();
  requireReranker(rt);
  rt.metrics.inc("te_request_count", `method="batch"`);
  const work: Promise<Scored>[] = [];
  let rawScores: boolean | undefined;
  let returnText = false;
  let chars = 0;
  for await (const req of reqs) {
    if (rawScores === undefined) {
      rawScores = req.rawScores;
      returnText = req.returnText;
    }
    rt.checkDirection(req.truncationDirection);
    await rt.admit(ctx);
    chars += codePointCount(req.query) + codePointCount(req.text);
    const p = scoreOne(rt, work.length, req.query, req.text, req.truncate, req.truncationDirection, rawScores);
    p.catch(() => {}); // reported by Promise.all below, in order
    work.push(p);
  }
  if (work.length === 0) {
    // TEI divides the summed timings by the batch size (0) and panics.
    panicAbort("router/src/grpc/server.rs:1391:33", "attempt to divide by zero");
  }
  return respond(rt, t, await Promise.all(work), chars, returnText);
}

/** Registers tei.v1.Rerank. */
export function registerRerank(router: ConnectRouter, rt: Runtime): void {
  router.service(Rerank, {
    async rerank(req, ctx) {
      const res = await rerank(rt, req, ctx);
      rt.setHeaders(ctx, res.metadata);
      return res;
    },
    async rerankStream(reqs, ctx) {
      const res = await rerankStream(rt, reqs, ctx);
      rt.setHeaders(ctx, res.metadata);
      return res;
    },
  });
}
