/**
 * TEI's default route, `POST /` and `POST /invocations` (SageMaker's): the request goes to the
 * route of the model's type, as TEI does: an embedding model's to `/embed`, a classifier's to
 * `/predict`, a reranker's to `/rerank`. The type comes from the model's `Info`, asked once and
 * kept (model-info.ts).
 */
import { fromBinary } from "@bufbuild/protobuf";
import { type InfoResponse, InfoResponseSchema, ModelType } from "@tei-fleet/proto/tei/v1";
import type { GatewayRequest, RouteSpec } from "../gateway-request.ts";
import { INFO_REQUEST } from "../grpc-request.ts";
import { INFO_METHOD } from "../model-info.ts";
import { TEI_RERANK } from "./rerank.ts";
import { TEI_EMBED } from "./tei-embed.ts";
import { TEI_PREDICT } from "./tei-predict.ts";

/** The route TEI's default route takes for a model of Info's type. */
export function routeForType(info: InfoResponse | null): RouteSpec {
  const t = info?.modelType;
  return t === ModelType.CLASSIFIER ? TEI_PREDICT : t === ModelType.RERANKER ? TEI_RERANK : TEI_EMBED;
}

function byType(rq: GatewayRequest, body: Record<string, unknown>, info: InfoResponse): void | Promise<void> {
  return routeForType(info).handler(rq, body);
}

function handle(rq: GatewayRequest, body: Record<string, unknown>): void | Promise<void> {
  const known = rq.gw.models.infoOf(rq.resolved);
  if (known !== null) return byType(rq, body, known);
  rq.run(INFO_METHOD, [INFO_REQUEST], 1, (b) => {
    const info = fromBinary(InfoResponseSchema, b.answers[0] as Buffer);
    rq.gw.models.learnInfo(rq.resolved, info);
    const r = byType(rq, body, info);
    if (r instanceof Promise) r.catch((err: unknown) => rq.fail(err));
  });
}

/** `POST /invocations` (and `POST /`). */
export const TEI_INVOCATIONS: RouteSpec = { name: "/invocations", family: "tei", method: "POST", needsModel: true, handler: handle };
