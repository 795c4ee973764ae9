/**
 * TEI's `POST /similarity`: `{"inputs": {"source_sentence", "sentences": [...]}, "parameters":
 * {truncate, truncation_direction, prompt_name}}` answered with the cosine similarity of the
 * source to each sentence, `[f32, ...]`. TEI has no RPC for it: the gateway embeds the 1 + n
 * texts (normalized) and computes the cosines itself, as TEI's HTTP server does.
 */
import type { GatewayRequest, RouteSpec } from "../gateway-request.ts";
import { readSimilarity } from "../tei-bodies.ts";
import { floatsOf } from "../vector-text.ts";
import { embedTexts } from "./dense-embed.ts";

function cosine(a: Float64Array, b: Float64Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : Math.fround(dot / Math.sqrt(na * nb));
}

function handle(rq: GatewayRequest, body: Record<string, unknown>): void {
  const { source, sentences, options: o } = readSimilarity(body);
  embedTexts(rq, [source, ...sentences], o, true, undefined, (vectors, meta) => {
    const s = floatsOf(vectors[0] as Buffer);
    const out = new Array<number>(sentences.length);
    for (let i = 0; i < out.length; i++) out[i] = cosine(s, floatsOf(vectors[i + 1] as Buffer));
    rq.ok(JSON.stringify(out), meta);
  });
}

/** `/similarity`. */
export const TEI_SIMILARITY: RouteSpec = { name: "/similarity", family: "tei", method: "POST", needsModel: true, handler: handle };
