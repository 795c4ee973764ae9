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
import { isSeedEmbed, readSeedEmbed, seedEmbedAnswer } from "../embeddings-shapes.ts";
import type { GatewayRequest, RouteSpec } from "../gateway-request.ts";
import { optBool, optInt } from "../json-fields.ts";
import { embedOptions, teiInputs } from "../tei-bodies.ts";
import { floatsJson } from "../vector-text.ts";
import { embedTexts } from "./dense-embed.ts";

function handle(rq: GatewayRequest, body: Record<string, unknown>): void {
  if (isSeedEmbed(body)) {
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
  const { texts, normalize } = readSeedEmbed(body);
  embedTexts(rq, texts, { truncate: true, direction: 0, promptName: undefined }, normalize, undefined, (vectors, meta) => {
    rq.ok(seedEmbedAnswer(rq.resolved.name, vectors, meta.tokens), meta);
  });
}

/** The route. */
export const TEI_EMBED: RouteSpec = { name: "/embed", family: "tei", method: "POST", needsModel: true, handler: handle };
