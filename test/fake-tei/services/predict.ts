/**
 * tei.v1.Predict: Predict and PredictPair (one or two inputs) with their *Stream twins, for
 * classifier and reranker models. Scores are softmax over the labels (sigmoid for a single
 * label) unless raw_scores, sorted descending, like router/src/grpc/server.rs.
 */
import { Code, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { Predict, type PredictPairRequest, type PredictRequest } from "@tei-fleet/proto/tei/v1";
import { predict } from "../fake-model.ts";
import { codePointCount } from "../tokenizer.ts";
import { orderedStream, type Runtime } from "./runtime.ts";

/** Predicts one input or pair; `inputs` has 1 or 2 elements (checked by the caller). */
async function predictOne(
  rt: Runtime,
  inputs: readonly string[],
  opts: { truncate: boolean; rawScores: boolean; truncationDirection: number },
  ctx: HandlerContext,
  wait: boolean,
) {
  const t = await rt.acquire(ctx, wait);
  try {
    rt.checkDirection(opts.truncationDirection);
    if (rt.model.kind === "embedding") {
      throw rt.fail("model_type", Code.FailedPrecondition, "Model is not a classifier model");
    }
    rt.metrics.inc("te_predict_count");
    const t0 = performance.now();
    const first = inputs[0] as string;
    const second = inputs[1];
    let text: string;
    let tokens: number;
    if (second === undefined) {
      ({ text, tokens } = rt.tokenize(first, opts.truncate, opts.truncationDirection));
    } else {
      // [CLS] a [SEP] b [SEP]: the second text is the one truncated.
      if (first.length === 0) throw rt.fail("validation", Code.InvalidArgument, "`inputs` cannot be empty");
      const b = rt.tokenize(second, opts.truncate, opts.truncationDirection, codePointCount(first) + 3);
      text = `${first}\u0001${b.text}`;
      tokens = b.tokens;
    }
    t.tokenization = performance.now() - t0;
    const predictions = predict(rt.model, text, opts.rawScores);
    const wait = await rt.forward(tokens);
    t.queue += wait.queue;
    t.inference = performance.now() - t0 - t.tokenization - wait.queue - wait.late;
    const chars = codePointCount(first) + (second === undefined ? 0 : codePointCount(second));
    const metadata = rt.finish(t, chars, tokens, "te_predict");
    return { predictions, metadata };
  } finally {
    rt.releasePermit();
  }
}

/** PredictPair's own validation, done before taking a permit like TEI. */
function pairInputs(rt: Runtime, req: PredictPairRequest): readonly string[] {
  if (req.inputs.length !== 1 && req.inputs.length !== 2) {
    throw rt.fail("validation", Code.InvalidArgument, `\`inputs\` must have a single or two elements. Given: ${req.inputs.length}`);
  }
  return req.inputs;
}

/** Registers tei.v1.Predict. */
export function registerPredict(router: ConnectRouter, rt: Runtime): void {
  const single = async (req: PredictRequest, ctx: HandlerContext, wait: boolean) => predictOne(rt, [req.inputs], req, ctx, wait);
  const pair = async (req: PredictPairRequest, ctx: HandlerContext, wait: boolean) => predictOne(rt, pairInputs(rt, req), req, ctx, wait);

  router.service(Predict, {
    predict(req, ctx) {
      return rt.single(ctx, () => single(req, ctx, false));
    },
    predictPair(req, ctx) {
      return rt.single(ctx, () => pair(req, ctx, false));
    },
    predictStream(reqs, ctx) {
      return orderedStream(reqs, (req) => single(req, ctx, true));
    },
    predictPairStream(reqs, ctx) {
      return orderedStream(reqs, (req) => pair(req, ctx, true));
    },
  });
}
