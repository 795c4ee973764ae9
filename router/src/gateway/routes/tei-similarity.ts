/**
 * TEI's `POST /similarity`: `{"inputs": {"source_sentence", "sentences": [...]}, "parameters":
 * {truncate, truncation_direction, prompt_name}}` answered with the cosine similarity of the
 * source to each sentence, `[f32, ...]`. TEI has no RPC for it: the gateway embeds the 1 + n
 * texts (normalized) and computes the cosines itself, as TEI's HTTP server does.
 */
import { invalidField } from "../gateway-error.ts";
import type { GatewayRequest, RouteSpec } from "../gateway-request.ts";
import { direction, kind, nonEmptyText, optBool, optText, textList } from "../json-fields.ts";
import { floatsOf } from "../vector-text.ts";
import { embedTexts } from "./dense-embed.ts";
import { TEI_MAX_INPUTS } from "./tei-embed.ts";

function object(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw invalidField(field, `expected an object, got ${kind(v)}`);
  return v as Record<string, unknown>;
}

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
  if (body.inputs === undefined) throw invalidField("inputs", "missing field");
  const inputs = object(body.inputs, "inputs");
  const source = nonEmptyText(inputs.source_sentence, "inputs.source_sentence");
  const sentences = textList(inputs.sentences, "inputs.sentences", TEI_MAX_INPUTS - 1);
  const p = body.parameters === undefined || body.parameters === null ? {} : object(body.parameters, "parameters");
  const o = { truncate: optBool(p, "truncate") ?? true, direction: direction(p), promptName: optText(p, "prompt_name") };
  embedTexts(rq, [source, ...sentences], o, true, undefined, (vectors, meta) => {
    const s = floatsOf(vectors[0] as Buffer);
    const out = new Array<number>(sentences.length);
    for (let i = 0; i < out.length; i++) out[i] = cosine(s, floatsOf(vectors[i + 1] as Buffer));
    rq.ok(JSON.stringify(out), meta);
  });
}

/** `/similarity`. */
export const TEI_SIMILARITY: RouteSpec = { name: "/similarity", family: "tei", method: "POST", needsModel: true, handler: handle };
