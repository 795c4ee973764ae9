/**
 * TEI's `POST /embed_sparse` (`[[{"index","value"}...]...]`) and `POST /embed_all` (a vector per
 * token: `[[[f32...]...]...]`): `inputs`, `truncate` (auto: true), `truncation_direction`,
 * `prompt_name`; one unary call per input like /embed.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { EmbedAllResponseSchema, EmbedSparseResponseSchema } from "@tei-fleet/proto/tei/v1";
import { METHODS, type MethodSpec } from "../../tei/method-table.ts";
import type { GatewayRequest, RouteSpec } from "../gateway-request.ts";
import { embedVariantRequest } from "../grpc-request.ts";
import { MetaSum, sumMetadata } from "../grpc-response.ts";
import { embedOptions, teiInputs } from "../tei-bodies.ts";
import { plan } from "./dense-embed.ts";

const SPARSE = METHODS.get("/tei.v1.Embed/EmbedSparse") as MethodSpec;
const ALL = METHODS.get("/tei.v1.Embed/EmbedAll") as MethodSpec;

function frames(rq: GatewayRequest, body: Record<string, unknown>): { frames: Buffer[]; window: number } {
  const texts = teiInputs(body);
  const o = embedOptions(body);
  return { frames: texts.map((t) => embedVariantRequest(t, o)), window: plan(rq, texts.length).window };
}

function sparse(rq: GatewayRequest, body: Record<string, unknown>): void {
  const f = frames(rq, body);
  rq.run(SPARSE, f.frames, f.window, (b) => {
    const meta = new MetaSum();
    const out = b.answers.map((a) => {
      sumMetadata(a, meta);
      return fromBinary(EmbedSparseResponseSchema, a).sparseEmbeddings.map((s) => ({ index: s.index, value: s.value }));
    });
    rq.ok(JSON.stringify(out), meta);
  });
}

function all(rq: GatewayRequest, body: Record<string, unknown>): void {
  const f = frames(rq, body);
  rq.run(ALL, f.frames, f.window, (b) => {
    const meta = new MetaSum();
    const out = b.answers.map((a) => {
      sumMetadata(a, meta);
      return fromBinary(EmbedAllResponseSchema, a).tokenEmbeddings.map((t) => t.embeddings);
    });
    rq.ok(JSON.stringify(out), meta);
  });
}

/** `/embed_sparse`. */
export const TEI_EMBED_SPARSE: RouteSpec = { name: "/embed_sparse", family: "tei", method: "POST", needsModel: true, handler: sparse };
/** `/embed_all`. */
export const TEI_EMBED_ALL: RouteSpec = { name: "/embed_all", family: "tei", method: "POST", needsModel: true, handler: all };
