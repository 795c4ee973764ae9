/**
 * Reranking in the three shapes clients send (TEI's `/rerank`, Jina's and Cohere v1's
 * `/v1/rerank`, Cohere v2's `/v2/rerank`: read and answered by rerank-shapes.ts), one handler.
 *
 * TEI's Rerank takes at most `max_client_batch_size` texts, and Cohere suggests up to 1,000
 * documents: texts are sent in chunks (in parallel, across replicas), each chunk's `index`
 * offset back to the global position, all merged and sorted by score, `top_n` applied last.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { RerankResponseSchema } from "@tei-fleet/proto/tei/v1";
import { METHODS, type MethodSpec } from "../../tei/method-table.ts";
import type { GatewayRequest, RouteSpec } from "../gateway-request.ts";
import { rerankRequest } from "../grpc-request.ts";
import { MetaSum, sumMetadata } from "../grpc-response.ts";
import { DEFAULT_CLIENT_BATCH } from "../model-info.ts";
import { type Ranked, type RerankShape, readRerank, rerankAnswer } from "../rerank-shapes.ts";

const RERANK = METHODS.get("/tei.v1.Rerank/Rerank") as MethodSpec;

function handler(route: RerankShape) {
  return (rq: GatewayRequest, body: Record<string, unknown>): void => {
    const q = readRerank(route, body);
    const texts = q.texts;
    const send = (size: number): void => {
      const frames: Buffer[] = [];
      for (let at = 0; at < texts.length; at += size)
        frames.push(rerankRequest(q.query, texts.slice(at, at + size), q.truncate, q.rawScores, q.returnText, q.direction));
      rq.inputs = texts.length;
      rq.chunks = frames.length;
      if (texts.length > 1) rq.gw.metrics.split(rq.route.name, texts.length, frames.length);
      rq.run(RERANK, frames, Math.max(1, rq.resolved.replicas), (b) => {
        const meta = new MetaSum();
        const ranked: Ranked[] = [];
        b.answers.forEach((a, chunk) => {
          sumMetadata(a, meta);
          for (const r of fromBinary(RerankResponseSchema, a).ranks) ranked.push({ index: r.index + chunk * size, score: r.score, text: r.text });
        });
        rq.ok(rerankAnswer(q, rq.resolved.name, ranked, meta.tokens), meta);
      });
    };
    // TEI refuses more texts per Rerank than its max_client_batch_size: the chunk size must be
    // the model's own, so a model's first rerank waits for its Info.
    rq.gw.models.withInfo(rq.resolved, (info) => {
      try {
        send(info?.maxClientBatchSize || DEFAULT_CLIENT_BATCH);
      } catch (err) {
        rq.fail(err);
      }
    });
  };
}

/** TEI's `/rerank`. */
export const TEI_RERANK: RouteSpec = { name: "/rerank", family: "tei", method: "POST", needsModel: true, handler: handler("tei") };
/** Jina's and Cohere v1's `/v1/rerank`. */
export const V1_RERANK: RouteSpec = { name: "/v1/rerank", family: "cohere", method: "POST", needsModel: true, handler: handler("v1") };
/** Cohere v2's `/v2/rerank`. */
export const V2_RERANK: RouteSpec = { name: "/v2/rerank", family: "cohere", method: "POST", needsModel: true, handler: handler("v2") };
