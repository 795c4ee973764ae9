/**
 * TEI's `POST /embed`: `inputs` (a string or strings), `truncate` (TEI's HTTP default is the
 * server's auto-truncate, true since 1.9; gRPC's is false, so it is always sent), `normalize`
 * (true), `truncation_direction`, `prompt_name`, `dimensions`; the answer is always a nested
 * list `[[f32,...],...]`. Seed 003's shape is accepted on the same path: `{model, texts,
 * options: {normalize}}`, answered `{model, embeddings, dimensions, usage}`.
 *
 * Token-id inputs (TEI embeds them as the model's own ids) cannot cross TEI's gRPC API, whose
 * inputs are text: they are refused naming the field.
 */
import { invalidField } from "../gateway-error.ts";
import type { GatewayRequest, RouteSpec } from "../gateway-request.ts";
import type { EmbedOptions } from "../grpc-request.ts";
import { direction, kind, optBool, optInt, optText, textList } from "../json-fields.ts";
import { floatsJson } from "../vector-text.ts";
import { embedTexts } from "./dense-embed.ts";

/** Inputs per request on TEI's routes (TEI itself takes max_client_batch_size; the gateway splits). */
export const TEI_MAX_INPUTS = 8192;

/** `inputs` of TEI's embed routes as texts; token ids are refused. */
export function teiInputs(body: Record<string, unknown>, field = "inputs"): string[] {
  const v = body[field];
  if (v === undefined) throw invalidField(field, "missing field");
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      if (typeof v[i] === "number" || Array.isArray(v[i])) {
        throw invalidField(
          Array.isArray(v[i]) ? `${field}[${i}]` : field,
          "token ids are not supported through the fleet (TEI's gRPC API takes text): send the text",
        );
      }
    }
  }
  return textList(v, field, TEI_MAX_INPUTS);
}

/** The truncation options TEI's HTTP routes share (`truncate` defaults to auto-truncate: true). */
export function embedOptions(body: Record<string, unknown>): EmbedOptions {
  return { truncate: optBool(body, "truncate") ?? true, direction: direction(body), promptName: optText(body, "prompt_name") };
}

function handle(rq: GatewayRequest, body: Record<string, unknown>): void {
  if (body.texts !== undefined && body.inputs === undefined) {
    seedEmbed(rq, body);
    return;
  }
  const texts = teiInputs(body);
  const o = embedOptions(body);
  const normalize = optBool(body, "normalize") ?? true;
  const dimensions = optInt(body, "dimensions", 1);
  embedTexts(rq, texts, o, normalize, dimensions, (vectors, meta) => {
    let out = "[";
    for (let i = 0; i < vectors.length; i++) {
      if (i > 0) out += ",";
      out += floatsJson(vectors[i] as Buffer);
    }
    rq.ok(`${out}]`, meta);
  });
}

/** Seed 003's `POST /embed {model, texts, options}`. */
function seedEmbed(rq: GatewayRequest, body: Record<string, unknown>): void {
  const texts = textList(body.texts, "texts", TEI_MAX_INPUTS);
  const options = body.options ?? {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) throw invalidField("options", `expected an object, got ${kind(options)}`);
  const normalize = optBool(options as Record<string, unknown>, "normalize") ?? true;
  embedTexts(rq, texts, { truncate: true, direction: 0, promptName: undefined }, normalize, undefined, (vectors, meta) => {
    let out = `{"model":${JSON.stringify(rq.resolved.name)},"embeddings":[`;
    for (let i = 0; i < vectors.length; i++) {
      if (i > 0) out += ",";
      out += floatsJson(vectors[i] as Buffer);
    }
    const dims = vectors.length > 0 ? (vectors[0] as Buffer).length >> 2 : 0;
    rq.ok(`${out}],"dimensions":${dims},"usage":{"prompt_tokens":${meta.tokens},"total_tokens":${meta.tokens}}}`, meta);
  });
}

/** The route. */
export const TEI_EMBED: RouteSpec = { name: "/embed", family: "tei", method: "POST", needsModel: true, handler: handle };
