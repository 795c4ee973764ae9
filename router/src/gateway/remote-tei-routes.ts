/**
 * Every model route of the gateway on a remote backend of kind `tei`: an external TEI's HTTP API.
 *
 * - TEI's own routes (`/embed`, `/embed_sparse`, `/embed_all`, `/predict`, `/similarity`,
 *   `/tokenize`, `/decode`, `/vertex`, `GET /info`) call the same route on the backend with the
 *   body as the gateway received it, less `model`: it names the fleet's name for the backend,
 *   not the backend's model, and TEI ignores fields it does not know, so dropping it changes
 *   nothing TEI reads. The answer, TEI's error JSON and TEI's timing headers come back as sent.
 * - The shapes TEI's HTTP API lacks or shapes differently are translated with the functions the
 *   gRPC routes use: OpenAI's `/v1/embeddings` and seed 003's `/embed {texts}` onto `/embed`
 *   (embeddings-shapes.ts: token arrays decoded as cl100k ids, vectors as packed float32 like
 *   TEI's gRPC answers), the rerank shapes of TEI, Jina and Cohere v1 / v2 onto `/rerank`
 *   (rerank-shapes.ts).
 * - The default routes (`POST /invocations`, `POST /`) take the route of the backend's model
 *   type, from its `/info` (SPLADE: `/embed_sparse`, as TEI does); unknown, the backend's own
 *   `/invocations` decides.
 *
 * Bodies are read first with the gRPC routes' readers (tei-bodies.ts), so bad input is refused with the same
 * status and shape, without a call; token-id inputs, which TEI's HTTP API embeds as the model's
 * own ids, are passed on (the gRPC path must refuse them). A request with more inputs than the
 * backend's `max_client_batch_size` (from its `/info`: remote-tei-info.ts) is split into calls
 * of that size whose answers are joined in input order (remote-chunks.ts); one that fits is one
 * call, its body as received. `/vertex` is one call: each instance is within the backend's limits
 * as TEI's own `/vertex` applies them.
 */

import { embeddingsAnswer, isSeedEmbed, readEmbeddings, readSeedEmbed, seedEmbedAnswer } from "./embeddings-shapes.ts";
import { emptyField, invalidField } from "./gateway-error.ts";
import type { GatewayRequest } from "./gateway-request.ts";
import { direction, idList, isIdArray, kind, nonEmptyText, optBool, optInt } from "./json-fields.ts";
import { answerRemote } from "./remote-answer.ts";
import type { RemoteTarget } from "./remote-backend-target.ts";
import { badAnswer, callRemote } from "./remote-call.ts";
import { callChunks, chunkRanges, noteSplit } from "./remote-chunks.ts";
import { clientBatchOf, keptRemoteInfo, learnRemoteInfo, type RemoteInfo, remoteInfo } from "./remote-tei-info.ts";
import { RemoteTimings } from "./remote-timings.ts";
import { type Ranked, type RerankQuery, type RerankShape, readRerank, rerankAnswer } from "./rerank-shapes.ts";
import { embedOptions, predictInputs, readDecode, readSimilarity, readTokenize, TEI_MAX_INPUTS, vertexInstances } from "./tei-bodies.ts";

type Handler = (rq: GatewayRequest, body: Record<string, unknown>, t: RemoteTarget) => Promise<void>;

/** The body forwarded: as received, less `model` (the fleet's name for the backend). */
function forwarded(body: Record<string, unknown>): Record<string, unknown> {
  if (!("model" in body)) return body;
  const { model: _model, ...rest } = body;
  return rest;
}

/** The backend's facts when a request of `n` inputs needs them (one input fits any batch: no wait). */
function infoFor(t: RemoteTarget, n: number): Promise<RemoteInfo | null> | RemoteInfo | null {
  return n > 1 ? remoteInfo(t) : keptRemoteInfo(t);
}

/** `inputs` of TEI's embed routes as TEI's HTTP API reads them: a text, one input of token ids, or a list of either. */
function embedItems(body: Record<string, unknown>): (string | number[])[] {
  const v = body.inputs;
  if (v === undefined) throw invalidField("inputs", "missing field");
  if (typeof v === "string") return [nonEmptyText(v, "inputs")];
  if (isIdArray(v)) return [idList(v, "inputs")];
  if (!Array.isArray(v)) throw invalidField("inputs", `expected a string, token ids or an array of either, got ${kind(v)}`);
  if (v.length === 0) throw emptyField("inputs", "`inputs` cannot be empty");
  if (v.length > TEI_MAX_INPUTS) throw invalidField("inputs", `at most ${TEI_MAX_INPUTS} inputs per request, got ${v.length}`);
  return v.map((x, i) => {
    if (!Array.isArray(x)) return nonEmptyText(x, `inputs[${i}]`);
    if (x.length === 0) throw emptyField(`inputs[${i}]`, "`inputs` cannot be empty");
    return idList(x, `inputs[${i}]`);
  });
}

/** One call with the body as received, its answer passed back (`/vertex`, `/invocations` of an unknown type). */
async function forwardOnce(rq: GatewayRequest, t: RemoteTarget, path: string, body: Record<string, unknown>, inputs: number): Promise<void> {
  noteSplit(rq, inputs, 1);
  const a = await callRemote(rq, t, "POST", path, forwarded(body));
  const timings = new RemoteTimings();
  timings.add(a.headers, inputs);
  answerRemote(rq, t, a.text, timings);
}

/**
 * Forwards a route whose answer is a JSON array of one item per input: as one call with the
 * body as received when its `n` inputs fit the backend's batch, else as chunks (`chunkBody`
 * makes the body carrying inputs `[from, to)`), their arrays joined in order as sent.
 * @param reserve - inputs each call carries besides its chunk's (similarity's source sentence)
 */
async function forwardItems(
  rq: GatewayRequest,
  t: RemoteTarget,
  path: string,
  body: Record<string, unknown>,
  n: number,
  chunkBody: (from: number, to: number) => Record<string, unknown>,
  reserve = 0,
): Promise<void> {
  const info = await infoFor(t, n + reserve);
  const size = Math.max(1, clientBatchOf(info) - reserve);
  const timings = new RemoteTimings();
  if (n <= size) {
    noteSplit(rq, n, 1);
    const a = await callRemote(rq, t, "POST", path, forwarded(body));
    if (!Array.isArray(a.json)) throw badAnswer(t, `${path} answered no JSON array`);
    timings.add(a.headers, n + reserve);
    answerRemote(rq, t, a.text, timings);
    return;
  }
  const ranges = chunkRanges(n, size);
  noteSplit(rq, n, ranges.length);
  const answers = await callChunks(
    rq,
    t,
    path,
    ranges.map(([from, to]) => chunkBody(from, to)),
    info,
  );
  const parts: string[] = [];
  answers.forEach((a, k) => {
    const [from, to] = ranges[k] as [number, number];
    if (!Array.isArray(a.json) || a.json.length !== to - from) throw badAnswer(t, `expected ${to - from} answers from ${path}`);
    timings.add(a.headers, to - from + reserve);
    // The answer's own text, its brackets off: the items go back as the backend wrote them.
    const inner = a.text.trim().slice(1, -1).trim();
    if (inner !== "") parts.push(inner);
  });
  answerRemote(rq, t, `[${parts.join(",")}]`, timings);
}

/** `/embed`, `/embed_sparse`, `/embed_all` (TEI's shape). */
function embedRoute(path: "/embed" | "/embed_sparse" | "/embed_all"): Handler {
  return (rq, body, t) => {
    const items = embedItems(body);
    embedOptions(body);
    if (path === "/embed") {
      optBool(body, "normalize");
      optInt(body, "dimensions", 1);
    }
    return forwardItems(rq, t, path, body, items.length, (from, to) => ({ ...forwarded(body), inputs: items.slice(from, to) }));
  };
}

const embedTei = embedRoute("/embed");
const embedSparse = embedRoute("/embed_sparse");

/** `/embed`: TEI's shape, or seed 003's `{model, texts, options}` translated onto TEI's. */
const embed: Handler = async (rq, body, t) => {
  if (!isSeedEmbed(body)) return embedTei(rq, body, t);
  const { texts, normalize } = readSeedEmbed(body);
  const { vectors, timings } = await remoteVectors(rq, t, texts, { truncate: true, normalize });
  answerRemote(rq, t, seedEmbedAnswer(rq.resolved.name, vectors, timings.tokens), timings);
};

/** OpenAI's `/v1/embeddings`, onto TEI's `/embed` (truncated and normalized, as the local route). */
const openaiEmbeddings: Handler = async (rq, body, t) => {
  const q = await readEmbeddings(body);
  const { vectors, timings } = await remoteVectors(rq, t, q.texts, { truncate: true, normalize: true, dimensions: q.dimensions });
  answerRemote(rq, t, embeddingsAnswer(rq.resolved.name, vectors, q.base64, timings.tokens), timings);
};

/** The vectors of `texts` from the backend's `/embed` (`fields` beside `inputs`), as packed float32. */
async function remoteVectors(
  rq: GatewayRequest,
  t: RemoteTarget,
  texts: readonly string[],
  fields: Record<string, unknown>,
): Promise<{ vectors: Buffer[]; timings: RemoteTimings }> {
  const n = texts.length;
  const info = await infoFor(t, n);
  const ranges = chunkRanges(n, clientBatchOf(info));
  noteSplit(rq, n, ranges.length);
  const answers = await callChunks(
    rq,
    t,
    "/embed",
    ranges.map(([from, to]) => ({ inputs: texts.slice(from, to), ...fields })),
    info,
  );
  const timings = new RemoteTimings();
  const vectors: Buffer[] = [];
  answers.forEach((a, k) => {
    const [from, to] = ranges[k] as [number, number];
    const json = a.json;
    if (!Array.isArray(json) || json.length !== to - from || !json.every((v) => Array.isArray(v))) throw badAnswer(t, `expected ${to - from} embeddings`);
    timings.add(a.headers, to - from);
    for (const v of json as number[][]) vectors.push(Buffer.from(Float32Array.from(v).buffer));
  });
  return { vectors, timings };
}

/** `/predict`: a text, a pair, or a batch of either (a split batch goes as batches of lists). */
const predict: Handler = (rq, body, t) => {
  const { seqs, batch } = predictInputs(body.inputs);
  optBool(body, "raw_scores");
  optBool(body, "truncate");
  direction(body);
  return forwardItems(rq, t, "/predict", body, batch ? seqs.length : 1, (from, to) => ({ ...forwarded(body), inputs: seqs.slice(from, to) }));
};

/** `/similarity`: the sentences split, each call carrying the source sentence too. */
const similarity: Handler = (rq, body, t) => {
  const { sentences } = readSimilarity(body);
  const inputs = body.inputs as Record<string, unknown>;
  return forwardItems(
    rq,
    t,
    "/similarity",
    body,
    sentences.length,
    (from, to) => ({ ...forwarded(body), inputs: { ...inputs, sentences: sentences.slice(from, to) } }),
    1,
  );
};

const tokenize: Handler = (rq, body, t) => {
  const { texts } = readTokenize(body);
  return forwardItems(rq, t, "/tokenize", body, texts.length, (from, to) => ({ ...forwarded(body), inputs: texts.slice(from, to) }));
};

const decode: Handler = (rq, body, t) => {
  const { lists } = readDecode(body);
  return forwardItems(rq, t, "/decode", body, lists.length, (from, to) => ({ ...forwarded(body), ids: lists.slice(from, to) }));
};

/**
 * TEI's `/rerank` fields for `q`: the query and whether texts come back, and the options the
 * client set (unset ones stay the backend's defaults, as with the other routes).
 */
function rerankFields(body: Record<string, unknown>, q: RerankQuery): Record<string, unknown> {
  const out: Record<string, unknown> = { query: q.query, return_text: q.returnText };
  if (body.truncate !== undefined && body.truncate !== null) out.truncate = q.truncate;
  if (body.raw_scores !== undefined && body.raw_scores !== null) out.raw_scores = q.rawScores;
  if (body.truncation_direction !== undefined && body.truncation_direction !== null) out.truncation_direction = q.direction === 1 ? "left" : "right";
  return out;
}

/** The ranks of one `/rerank` answer of `n` texts, checked. */
function ranksOf(t: RemoteTarget, json: unknown, n: number): { index: number; score: number; text?: unknown }[] {
  const ok =
    Array.isArray(json) &&
    json.length === n &&
    json.every((r) => typeof r === "object" && r !== null && Number.isInteger(r.index) && r.index >= 0 && r.index < n && typeof r.score === "number");
  if (!ok) throw badAnswer(t, `expected the ranks of ${n} texts`);
  return json as { index: number; score: number; text?: unknown }[];
}

/** The three rerank shapes, onto TEI's `/rerank` (chunks of `max_client_batch_size` texts, merged by score). */
function rerankRoute(route: RerankShape): Handler {
  return async (rq, body, t) => {
    const q = readRerank(route, body);
    const n = q.texts.length;
    const info = await infoFor(t, n);
    const ranges = chunkRanges(n, clientBatchOf(info));
    noteSplit(rq, n, ranges.length);
    const fields = rerankFields(body, q);
    const answers = await callChunks(
      rq,
      t,
      "/rerank",
      ranges.map(([from, to]) => ({ ...fields, texts: q.texts.slice(from, to) })),
      info,
    );
    const timings = new RemoteTimings();
    const ranked: Ranked[] = [];
    answers.forEach((a, k) => {
      const [from, to] = ranges[k] as [number, number];
      timings.add(a.headers, to - from);
      for (const r of ranksOf(t, a.json, to - from))
        ranked.push({ index: r.index + from, score: r.score, text: typeof r.text === "string" ? r.text : undefined });
    });
    answerRemote(rq, t, rerankAnswer(q, rq.resolved.name, ranked, timings.tokens), timings);
  };
}

const rerankTei = rerankRoute("tei");

/**
 * `GET /info`: the backend's own, `served_model_name` the name the client called (as the local
 * route's is), `model_id` the backend's model. Its facts refresh the kept ones.
 */
const info: Handler = async (rq, _body, t) => {
  const a = await callRemote(rq, t, "GET", "/info", null);
  const json = a.json;
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw badAnswer(t, "/info answered no JSON object");
  learnRemoteInfo(t, json);
  answerRemote(rq, t, JSON.stringify({ ...json, served_model_name: rq.resolved.name }), null);
};

/** TEI's default route: the route of the backend's model type. */
const invocations: Handler = async (rq, body, t) => {
  const known = await remoteInfo(t);
  switch (known?.defaultRoute) {
    case "/predict":
      return predict(rq, body, t);
    case "/rerank":
      return rerankTei(rq, body, t);
    case "/embed_sparse":
      return embedSparse(rq, body, t);
    case "/embed":
      return embed(rq, body, t);
    default:
      // Its type unknown (its /info did not answer): the backend's own default route decides.
      return forwardOnce(rq, t, "/invocations", body, 1);
  }
};

const vertex: Handler = (rq, body, t) => forwardOnce(rq, t, "/vertex", body, vertexInstances(body).length);

/** The handler of each model route, by the route's documented path. */
const ROUTES: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ["/v1/embeddings", openaiEmbeddings],
  ["/embed", embed],
  ["/embed_sparse", embedSparse],
  ["/embed_all", embedRoute("/embed_all")],
  ["/predict", predict],
  ["/rerank", rerankTei],
  ["/v1/rerank", rerankRoute("v1")],
  ["/v2/rerank", rerankRoute("v2")],
  ["/similarity", similarity],
  ["/tokenize", tokenize],
  ["/decode", decode],
  ["/info", info],
  ["/invocations", invocations],
  ["/vertex", vertex],
]);

/** The handler of route `name` on a TEI backend (undefined: a route that takes no model). */
export function teiRemoteRoute(name: string): Handler | undefined {
  return ROUTES.get(name);
}
