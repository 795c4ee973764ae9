/**
 * TEI's `POST /tokenize` (`inputs` a text or texts, `add_special_tokens` true as over HTTP,
 * gRPC's default being false; `prompt_name`) answering `[[{id, text, special, start, stop}]]`
 * (byte offsets, null for special tokens), and `POST /decode` (`ids` a list or lists,
 * `skip_special_tokens` true) answering `["text", ...]`.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { DecodeResponseSchema, EncodeResponseSchema } from "@tei-fleet/proto/tei/v1";
import { METHODS, type MethodSpec } from "../../tei/method-table.ts";
import { emptyField, invalidField } from "../gateway-error.ts";
import type { GatewayRequest, RouteSpec } from "../gateway-request.ts";
import { decodeRequest, encodeRequest } from "../grpc-request.ts";
import { idList, kind, optBool, optText, textList } from "../json-fields.ts";
import { plan } from "./dense-embed.ts";
import { TEI_MAX_INPUTS } from "./tei-embed.ts";

const TOKENIZE = METHODS.get("/tei.v1.Tokenize/Tokenize") as MethodSpec;
const DECODE = METHODS.get("/tei.v1.Tokenize/Decode") as MethodSpec;

function tokenize(rq: GatewayRequest, body: Record<string, unknown>): void {
  if (body.inputs === undefined) throw invalidField("inputs", "missing field");
  const texts = textList(body.inputs, "inputs", TEI_MAX_INPUTS);
  const special = optBool(body, "add_special_tokens") ?? true;
  const prompt = optText(body, "prompt_name");
  rq.run(
    TOKENIZE,
    texts.map((t) => encodeRequest(t, special, prompt)),
    plan(rq, texts.length).window,
    (b) => {
      const out = b.answers.map((a) =>
        fromBinary(EncodeResponseSchema, a).tokens.map((t) => ({ id: t.id, text: t.text, special: t.special, start: t.start ?? null, stop: t.stop ?? null })),
      );
      rq.ok(JSON.stringify(out), null);
    },
  );
}

function decode(rq: GatewayRequest, body: Record<string, unknown>): void {
  const v = body.ids;
  if (v === undefined) throw invalidField("ids", "missing field");
  if (!Array.isArray(v)) throw invalidField("ids", `expected a list of token ids or a list of such lists, got ${kind(v)}`);
  if (v.length === 0) throw emptyField("ids", "`ids` cannot be empty");
  const lists = Array.isArray(v[0]) ? v.map((x, i) => idList(x, `ids[${i}]`)) : [idList(v, "ids")];
  if (lists.length > TEI_MAX_INPUTS) throw invalidField("ids", `at most ${TEI_MAX_INPUTS} lists per request, got ${lists.length}`);
  const skip = optBool(body, "skip_special_tokens") ?? true;
  rq.run(
    DECODE,
    lists.map((ids) => decodeRequest(ids, skip)),
    plan(rq, lists.length).window,
    (b) => rq.ok(JSON.stringify(b.answers.map((a) => fromBinary(DecodeResponseSchema, a).text)), null),
  );
}

/** `/tokenize`. */
export const TEI_TOKENIZE: RouteSpec = { name: "/tokenize", family: "tei", method: "POST", needsModel: true, handler: tokenize };
/** `/decode`. */
export const TEI_DECODE: RouteSpec = { name: "/decode", family: "tei", method: "POST", needsModel: true, handler: decode };
