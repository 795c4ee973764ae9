/**
 * Rerank requests and answers in the three shapes clients send, read and written in one place
 * for both ways the gateway ranks (TEI gRPC `Rerank` calls: routes/rerank.ts; a remote TEI's HTTP
 * `/rerank`: remote-tei-routes.ts):
 * - TEI's `POST /rerank` (`query`, `texts`, `raw_scores`, `return_text`, `truncate`,
 *   `truncation_direction`): a bare array `[{index, score, text?}]` of every text, by score;
 * - Jina's and Cohere v1's `POST /v1/rerank` (`query`, `documents` as strings or `{text}`,
 *   `top_n`, `return_documents`, default false as Cohere's): `{id, model, object, usage,
 *   results: [{index, relevance_score, document?: {text}}], meta}`, one body both clients read;
 * - Cohere v2's `POST /v2/rerank` (`model`, `query`, `documents`, `top_n`): `{id, results, meta}`.
 * `/rerank` answers the Jina/Cohere shape when the body has `documents` and no `texts`.
 */
import { randomUUID } from "node:crypto";
import { emptyField, invalidField } from "./gateway-error.ts";
import { direction, kind, nonEmptyText, optBool, optInt, text } from "./json-fields.ts";
import { TEI_MAX_INPUTS } from "./tei-bodies.ts";

/** One ranked text: its position in the request's texts, its score, its text when asked. */
export interface Ranked {
  index: number;
  score: number;
  text: string | undefined;
}

/** The answer's shape: TEI's bare array, Jina's and Cohere v1's object, Cohere v2's. */
export type RerankShape = "tei" | "v1" | "v2";

/** A rerank request as read from any of the three shapes. */
export interface RerankQuery {
  readonly query: string;
  readonly texts: string[];
  /** The answer's shape (`/rerank` with `documents` answers Jina's and Cohere's). */
  readonly shape: RerankShape;
  /** Ranks kept (undefined or 0: all). */
  readonly topN: number | undefined;
  readonly returnText: boolean;
  readonly rawScores: boolean;
  readonly truncate: boolean;
  readonly direction: 0 | 1;
}

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

/** Reads a rerank body sent to the route of `route`'s shape (a refusal names the field at fault). */
export function readRerank(route: RerankShape, body: Record<string, unknown>): RerankQuery {
  const query = nonEmptyText(body.query, "query");
  const { texts, field } = documents(body);
  const shape: RerankShape = route === "tei" && field === "documents" ? "v1" : route;
  const topN = optInt(body, "top_n", 0);
  const returnText = optBool(body, "return_text") ?? optBool(body, "return_documents") ?? false;
  const rawScores = optBool(body, "raw_scores") ?? false;
  const truncate = optBool(body, "truncate") ?? true;
  const dir = direction(body);
  if (body.model !== undefined) text(body.model, "model");
  return { query, texts, shape, topN, returnText, rawScores, truncate, direction: dir };
}

/**
 * The answer to `q` from the ranks of all its texts (any order: sorted here by score, then
 * position, and cut to `top_n`), `name` the model as the client called it, `tokens` the tokens
 * the ranking took (Cohere's and Jina's usage).
 */
export function rerankAnswer(q: RerankQuery, name: string, ranked: Ranked[], tokens: number): string {
  ranked.sort((x, y) => y.score - x.score || x.index - y.index);
  const top = q.topN === undefined || q.topN === 0 ? ranked : ranked.slice(0, q.topN);
  return render(q.shape, name, top, q.returnText, tokens);
}

function render(shape: RerankShape, name: string, top: Ranked[], returnText: boolean, tokens: number): string {
  if (shape === "tei")
    return JSON.stringify(top.map((r) => (returnText ? { index: r.index, text: r.text ?? "", score: r.score } : { index: r.index, score: r.score })));
  const results = top.map((r) =>
    returnText ? { index: r.index, relevance_score: r.score, document: { text: r.text ?? "" } } : { index: r.index, relevance_score: r.score },
  );
  const id = randomUUID();
  if (shape === "v2") {
    return JSON.stringify({ id, results, meta: { api_version: { version: "2" }, billed_units: { search_units: 1 }, tokens: { input_tokens: tokens } } });
  }
  return JSON.stringify({
    id,
    model: name,
    object: "rerank",
    usage: { prompt_tokens: tokens, total_tokens: tokens },
    results,
    meta: { api_version: { version: "1" }, billed_units: { search_units: 1 } },
  });
}
