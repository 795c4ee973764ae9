/**
 * Reranking in the three shapes clients send, one handler:
 * - TEI's `POST /rerank` (`query`, `texts`, `raw_scores`, `return_text`, `truncate`,
 *   `truncation_direction`): a bare array `[{index, score, text?}]` of every text, by score;
 * - Jina's and Cohere v1's `POST /v1/rerank` (`query`, `documents` as strings or `{text}`,
 *   `top_n`, `return_documents`, default false as Cohere's): `{id, model, object, usage,
 *   results: [{index, relevance_score, document?: {text}}], meta}`, one body both clients read;
 * - Cohere v2's `POST /v2/rerank` (`model`, `query`, `documents`, `top_n`): `{id, results, meta}`.
 * `/rerank` answers the Jina/Cohere shape when the body has `documents` and no `texts`.
 *
 * TEI's Rerank takes at most `max_client_batch_size` texts, and Cohere suggests up to 1,000
 * documents: texts are sent in chunks (in parallel, across replicas), each chunk's `index`
 * offset back to the global position, all merged and sorted by score, `top_n` applied last.
 */
import { randomUUID } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { RerankResponseSchema } from "@tei-fleet/proto/tei/v1";
import { METHODS, type MethodSpec } from "../../tei/method-table.ts";
import { emptyField, invalidField } from "../gateway-error.ts";
import type { GatewayRequest, RouteSpec } from "../gateway-request.ts";
import { rerankRequest } from "../grpc-request.ts";
import { MetaSum, sumMetadata } from "../grpc-response.ts";
import { direction, kind, nonEmptyText, optBool, optInt, text } from "../json-fields.ts";
import { DEFAULT_CLIENT_BATCH } from "../model-info.ts";
import { TEI_MAX_INPUTS } from "./tei-embed.ts";

const RERANK = METHODS.get("/tei.v1.Rerank/Rerank") as MethodSpec;

/** One ranked text. */
interface Ranked {
  index: number;
  score: number;
  text: string | undefined;
}

type Shape = "tei" | "v1" | "v2";

/** `texts` (TEI) or `documents` (strings or `{text}` objects, Cohere and Jina). */
function documents(body: Record<string, unknown>): { texts: string[]; field: string } {
  const field = body.texts !== undefined ? "texts" : "documents";
  const v = body[field];
  if (v === undefined) throw invalidField("texts", "missing field (or `documents`)");
  if (!Array.isArray(v)) throw invalidField(field, `expected an array, got ${kind(v)}`);
  if (v.length === 0) throw emptyField(field, "`texts` cannot be empty");
  if (v.length > TEI_MAX_INPUTS) throw invalidField(field, `at most ${TEI_MAX_INPUTS} documents per request, got ${v.length}`);
  const texts = v.map((d, i) => {
    if (typeof d === "object" && d !== null && !Array.isArray(d) && "text" in d) return nonEmptyText((d as { text: unknown }).text, `${field}[${i}].text`);
    return nonEmptyText(d, `${field}[${i}]`);
  });
  return { texts, field };
}

function handler(route: Shape) {
  return (rq: GatewayRequest, body: Record<string, unknown>): void => {
    const query = nonEmptyText(body.query, "query");
    const { texts, field } = documents(body);
    const shape: Shape = route === "tei" && field === "documents" ? "v1" : route;
    const topN = optInt(body, "top_n", 0);
    const returnText = optBool(body, "return_text") ?? optBool(body, "return_documents") ?? false;
    const rawScores = optBool(body, "raw_scores") ?? false;
    const truncate = optBool(body, "truncate") ?? true;
    const dir = direction(body);
    if (body.model !== undefined) text(body.model, "model");
    const send = (size: number): void => {
      const frames: Buffer[] = [];
      for (let at = 0; at < texts.length; at += size) frames.push(rerankRequest(query, texts.slice(at, at + size), truncate, rawScores, returnText, dir));
      rq.inputs = texts.length;
      rq.chunks = frames.length;
      if (texts.length > 1) rq.gw.metrics.split(rq.route.name, texts.length, frames.length);
      rq.run(RERANK, frames, Math.max(1, rq.resolved.replicas), (b) => {
        const meta = new MetaSum();
        const ranked: Ranked[] = [];
        b.answers.forEach((a, chunk) => {
          sumMetadata(a, meta);
          for (const r of fromBinary(RerankResponseSchema, a).ranks) ranked.push({ index: r.index + chunk * size, score: r.score, text: r.text });
        });
        ranked.sort((x, y) => y.score - x.score || x.index - y.index);
        const top = topN === undefined || topN === 0 ? ranked : ranked.slice(0, topN);
        rq.ok(render(shape, rq, top, returnText, meta), meta);
      });
    };
    // TEI refuses more texts per Rerank than its max_client_batch_size: the chunk size must be
    // the model's own, so a model's first rerank waits for its Info.
    rq.gw.models.withInfo(rq.resolved, (info) => {
      try {
        send(info?.maxClientBatchSize || DEFAULT_CLIENT_BATCH);
      } catch (err) {
        rq.fail(err);
      }
    });
  };
}

function render(shape: Shape, rq: GatewayRequest, top: Ranked[], returnText: boolean, meta: MetaSum): string {
  if (shape === "tei")
    return JSON.stringify(top.map((r) => (returnText ? { index: r.index, text: r.text ?? "", score: r.score } : { index: r.index, score: r.score })));
  const results = top.map((r) =>
    returnText ? { index: r.index, relevance_score: r.score, document: { text: r.text ?? "" } } : { index: r.index, relevance_score: r.score },
  );
  const id = randomUUID();
  if (shape === "v2") {
    return JSON.stringify({ id, results, meta: { api_version: { version: "2" }, billed_units: { search_units: 1 }, tokens: { input_tokens: meta.tokens } } });
  }
  return JSON.stringify({
    id,
    model: rq.resolved.name,
    object: "rerank",
    usage: { prompt_tokens: meta.tokens, total_tokens: meta.tokens },
    results,
    meta: { api_version: { version: "1" }, billed_units: { search_units: 1 } },
  });
}

/** TEI's `/rerank`. */
export const TEI_RERANK: RouteSpec = { name: "/rerank", family: "tei", method: "POST", needsModel: true, handler: handler("tei") };
/** Jina's and Cohere v1's `/v1/rerank`. */
export const V1_RERANK: RouteSpec = { name: "/v1/rerank", family: "cohere", method: "POST", needsModel: true, handler: handler("v1") };
/** Cohere v2's `/v2/rerank`. */
export const V2_RERANK: RouteSpec = { name: "/v2/rerank", family: "cohere", method: "POST", needsModel: true, handler: handler("v2") };
