/**
 * The embeddings request and answer shapes that are not TEI's own `/embed`, read and written in
 * one place for both ways the gateway serves them (TEI gRPC calls: routes/openai-embeddings.ts,
 * routes/tei-embed.ts; a remote TEI's HTTP `/embed`: remote-tei-routes.ts):
 * - OpenAI's `/v1/embeddings`: `input` as a string, strings (at most 2,048) or tiktoken id
 *   arrays (decoded as cl100k_base ids: tiktoken-input.ts), `encoding_format` float or base64,
 *   `dimensions`, `user`; answered `{object: "list", data, model, usage}`;
 * - seed 003's `/embed {model, texts, options: {normalize}}`, answered `{model, embeddings,
 *   dimensions, usage}`.
 * Vectors are the packed little-endian float32 bytes TEI's gRPC answers carry (vector-text.ts).
 */
import { emptyField, GatewayError, invalidField } from "./gateway-error.ts";
import { isIdArray, kind, optBool, optInt, optText, text, textList } from "./json-fields.ts";
import { TEI_MAX_INPUTS } from "./tei-bodies.ts";
import { decodeTiktokenIds } from "./tiktoken-input.ts";
import { floatsBase64, floatsJson } from "./vector-text.ts";

/** OpenAI's limit on inputs per request. */
export const OPENAI_MAX_INPUTS = 2048;

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

/** An embeddings request as read . */
export interface EmbeddingsQuery {
  /** The texts, token arrays decoded. */
  readonly texts: string[];
  readonly base64: boolean;
  readonly dimensions: number | undefined;
}

/** Reads an OpenAI embeddings body; token arrays are decoded as cl100k_base ids (a refusal names the field). */
export async function readEmbeddings(body: Record<string, unknown>): Promise<EmbeddingsQuery> {
  const { texts, ids, idAt } = readInput(body.input);
  const base64 = format(body.encoding_format);
  const dimensions = optInt(body, "dimensions", 1);
  optText(body, "user");
  if (ids !== null && idAt !== null) {
    const decoded = await decodeTiktokenIds(ids, "input");
    for (let k = 0; k < idAt.length; k++) texts[idAt[k] as number] = decoded[k] as string;
  }
  return { texts, base64, dimensions };
}

/**
 * OpenAI's answer of `vectors` (each one's packed float32 bytes, in input order), `name` the
 * model as the client called it, `tokens` the tokens embedded.
 */
export function embeddingsAnswer(name: string, vectors: readonly Buffer[], base64: boolean, tokens: number): string {
  let out = '{"object":"list","data":[';
  for (let i = 0; i < vectors.length; i++) {
    if (i > 0) out += ",";
    const v = vectors[i] as Buffer;
    out += `{"object":"embedding","index":${i},"embedding":`;
    out += base64 ? `"${floatsBase64(v)}"}` : `${floatsJson(v)}}`;
  }
  return `${out}],"model":${JSON.stringify(name)},"usage":{"prompt_tokens":${tokens},"total_tokens":${tokens}}}`;
}

/** True for seed 003's shape of `/embed` (`texts`, no `inputs`). */
export function isSeedEmbed(body: Record<string, unknown>): boolean {
  return body.texts !== undefined && body.inputs === undefined;
}

/** Reads seed 003's `{model, texts, options: {normalize}}`. */
export function readSeedEmbed(body: Record<string, unknown>): { texts: string[]; normalize: boolean } {
  const texts = textList(body.texts, "texts", TEI_MAX_INPUTS);
  const options = body.options ?? {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) throw invalidField("options", `expected an object, got ${kind(options)}`);
  return { texts, normalize: optBool(options as Record<string, unknown>, "normalize") ?? true };
}

/** Seed 003's answer `{model, embeddings, dimensions, usage}` of `vectors` (packed float32 bytes each). */
export function seedEmbedAnswer(name: string, vectors: readonly Buffer[], tokens: number): string {
  let out = `{"model":${JSON.stringify(name)},"embeddings":[`;
  for (let i = 0; i < vectors.length; i++) {
    if (i > 0) out += ",";
    out += floatsJson(vectors[i] as Buffer);
  }
  const dims = vectors.length > 0 ? (vectors[0] as Buffer).length >> 2 : 0;
  return `${out}],"dimensions":${dims},"usage":{"prompt_tokens":${tokens},"total_tokens":${tokens}}}`;
}
