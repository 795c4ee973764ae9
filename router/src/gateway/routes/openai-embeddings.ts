/**
 * OpenAI's `POST /v1/embeddings` (and `/embeddings`, for clients whose base URL lacks `/v1`):
 * `input` as a string, strings (at most 2,048), or tiktoken id arrays (decoded, see
 * tiktoken-input.ts); `encoding_format` float or base64 (the SDKs' default: the packed float32
 * bytes of TEI's answer, base64'd as they are); `dimensions`; `user` (accepted, not used).
 * Like TEI's own OpenAI route, texts are truncated at the model's limit on the right and
 * normalized; `model` in the answer is the name the client asked for.
 */
import { emptyField, GatewayError, invalidField } from "../gateway-error.ts";
import type { GatewayRequest, RouteSpec } from "../gateway-request.ts";
import type { EmbedOptions } from "../grpc-request.ts";
import { isIdArray, kind, optInt, optText, text } from "../json-fields.ts";
import { decodeTiktokenIds } from "../tiktoken-input.ts";
import { floatsBase64, floatsJson } from "../vector-text.ts";
import { embedTexts } from "./dense-embed.ts";

/** OpenAI's limit on inputs per request. */
export const OPENAI_MAX_INPUTS = 2048;

const OPTIONS: EmbedOptions = { truncate: true, direction: 0, promptName: undefined };

/** The texts of `input`, and the token-id lists among them (positions kept). */
function readInput(v: unknown): { texts: string[]; ids: number[][] | null; idAt: number[] | null } {
  if (v === undefined || v === null) throw new GatewayError(400, "input: required", "Validation", "input");
  if (typeof v === "string") {
    if (v.length === 0) throw emptyField("input", "must not be an empty string");
    return { texts: [text(v, "input")], ids: null, idAt: null };
  }
  if (!Array.isArray(v)) throw invalidField("input", `expected a string, an array of strings or token arrays, got ${kind(v)}`);
  if (v.length === 0) throw emptyField("input", "must not be an empty array");
  if (isIdArray(v)) return { texts: [""], ids: [checkIds(v, "input")], idAt: [0] };
  if (v.length > OPENAI_MAX_INPUTS) throw invalidField("input", `at most ${OPENAI_MAX_INPUTS} inputs per request, got ${v.length}`);
  const texts = new Array<string>(v.length);
  let ids: number[][] | null = null;
  let idAt: number[] | null = null;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x === "string") {
      if (x.length === 0) throw emptyField(`input[${i}]`, "must not be an empty string");
      texts[i] = text(x, `input[${i}]`);
    } else if (Array.isArray(x)) {
      if (x.length === 0) throw emptyField(`input[${i}]`, "must not be an empty token array");
      (ids ??= []).push(checkIds(x, `input[${i}]`));
      (idAt ??= []).push(i);
      texts[i] = "";
    } else {
      throw invalidField(`input[${i}]`, `expected a string or a token array, got ${kind(x)}`);
    }
  }
  return { texts, ids, idAt };
}

function checkIds(v: unknown[], field: string): number[] {
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== "number" || !Number.isInteger(x) || x < 0) throw invalidField(`${field}[${i}]`, "expected a token id (a non-negative integer)");
  }
  return v as number[];
}

function format(v: unknown): boolean {
  if (v === undefined || v === null || v === "float") return false;
  if (v === "base64") return true;
  throw new GatewayError(400, `encoding_format: ${JSON.stringify(v)} is not one of ['float', 'base64']`, "Validation", "encoding_format");
}

async function handle(rq: GatewayRequest, body: Record<string, unknown>): Promise<void> {
  const { texts, ids, idAt } = readInput(body.input);
  const base64 = format(body.encoding_format);
  const dimensions = optInt(body, "dimensions", 1);
  optText(body, "user");
  if (ids !== null && idAt !== null) {
    const decoded = await decodeTiktokenIds(ids, "input");
    for (let k = 0; k < idAt.length; k++) texts[idAt[k] as number] = decoded[k] as string;
  }
  const name = JSON.stringify(rq.resolved.name);
  embedTexts(rq, texts, OPTIONS, true, dimensions, (vectors, meta) => {
    let out = '{"object":"list","data":[';
    for (let i = 0; i < vectors.length; i++) {
      if (i > 0) out += ",";
      const v = vectors[i] as Buffer;
      out += `{"object":"embedding","index":${i},"embedding":`;
      out += base64 ? `"${floatsBase64(v)}"}` : `${floatsJson(v)}}`;
    }
    out += `],"model":${name},"usage":{"prompt_tokens":${meta.tokens},"total_tokens":${meta.tokens}}}`;
    rq.ok(out, meta);
  });
}

/** The route, under both paths. */
export const OPENAI_EMBEDDINGS: RouteSpec = { name: "/v1/embeddings", family: "openai", method: "POST", needsModel: true, handler: handle };
