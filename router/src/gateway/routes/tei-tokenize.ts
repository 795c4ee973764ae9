/**
 * TEI's `POST /tokenize` (`inputs` a text or texts, `add_special_tokens` true as over HTTP,
 * gRPC's default being false; `prompt_name`) answering `[[{id, text, special, start, stop}]]`
 * (byte offsets, null for special tokens), and `POST /decode` (`ids` a list or lists,
 * `skip_special_tokens` true) answering `["text", ...]`.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { DecodeResponseSchema, EncodeResponseSchema } from "@tei-fleet/proto/tei/v1";
import { METHODS, type MethodSpec } from "../../tei/method-table.ts";
import type { GatewayRequest, RouteSpec } from "../gateway-request.ts";
import { decodeRequest, encodeRequest } from "../grpc-request.ts";
import { readDecode, readTokenize } from "../tei-bodies.ts";
import { plan } from "./dense-embed.ts";

const TOKENIZE = METHODS.get("/tei.v1.Tokenize/Tokenize") as MethodSpec;
const DECODE = METHODS.get("/tei.v1.Tokenize/Decode") as MethodSpec;

function tokenize(rq: GatewayRequest, body: Record<string, unknown>): void {
  const { texts, special, prompt } = readTokenize(body);
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
  const { lists, skip } = readDecode(body);
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
