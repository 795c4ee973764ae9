/**
 * The gateway's routes that are about the service rather than one inference: TEI's
 * `GET /info` (one replica's `Info`, in TEI's HTTP shape), `GET /health` (also `/ping`),
 * `GET /metrics` (the router's registry: the gateway's metrics beside the router's), and
 * OpenAI's `GET /v1/models` (and `/models`), listing what the route table serves.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { InfoResponseSchema, ModelType } from "@tei-fleet/proto/tei/v1";
import { modelNotFound } from "../gateway-error.ts";
import type { GatewayRequest, RouteSpec } from "../gateway-request.ts";
import { INFO_REQUEST } from "../grpc-request.ts";
import { INFO_METHOD } from "../model-info.ts";

/**
 * TEI's `model_type` object. gRPC's Info has the enum only: an embedding model's pooling comes
 * from the replica's route (its spec's --pooling; null when TEI took it from the model), and a
 * classifier's label maps, which no gRPC answer carries, are empty.
 */
function modelType(t: ModelType, pooling: string | undefined): Record<string, unknown> {
  switch (t) {
    case ModelType.CLASSIFIER:
      return { classifier: { id2label: {}, label2id: {} } };
    case ModelType.RERANKER:
      return { reranker: { id2label: {}, label2id: {} } };
    default:
      return { embedding: { pooling: pooling || null } };
  }
}

function info(rq: GatewayRequest): void {
  rq.run(INFO_METHOD, [INFO_REQUEST], 1, (b) => {
    const i = fromBinary(InfoResponseSchema, b.answers[0] as Buffer);
    rq.gw.models.learnInfo(rq.resolved, i);
    rq.ok(
      JSON.stringify({
        model_id: i.modelId,
        model_sha: i.modelSha ?? null,
        model_dtype: i.modelDtype,
        model_type: modelType(i.modelType, b.servedBy[0]?.pooling),
        max_concurrent_requests: i.maxConcurrentRequests,
        max_input_length: i.maxInputLength,
        max_batch_tokens: i.maxBatchTokens,
        max_batch_requests: i.maxBatchRequests ?? null,
        max_client_batch_size: i.maxClientBatchSize,
        auto_truncate: true,
        tokenization_workers: i.tokenizationWorkers,
        version: i.version,
        sha: i.sha ?? null,
        docker_label: i.dockerLabel ?? null,
        served_model_name: rq.resolved.name,
      }),
      null,
    );
  });
}

const UNHEALTHY = JSON.stringify({ error: "unhealthy", error_type: "Unhealthy" });

function health(rq: GatewayRequest): void {
  const table = rq.gw.table;
  const remote = rq.model?.remote;
  // A remote backend (model catalog): healthy unless the control plane or this router says down.
  let ok = remote !== undefined ? !remote.health.down() : table.loaded && table.size > 0;
  if (ok && rq.model !== null && remote === undefined) {
    try {
      table.resolve(rq.model.target);
    } catch {
      ok = false;
    }
  }
  if (ok) rq.send(200, "", null);
  else rq.send(503, UNHEALTHY, "application/json");
}

function metrics(rq: GatewayRequest): void {
  const registry = rq.gw.registry;
  registry.metrics().then(
    (text) => rq.send(200, text, registry.contentType),
    (err: unknown) => rq.fail(err),
  );
}

function models(rq: GatewayRequest): void {
  const data = rq.gw.resolver.list().map((m) => ({ id: m.id, object: "model", created: 0, owned_by: m.ownedBy }));
  rq.ok(JSON.stringify({ object: "list", data }), null);
}

/** `GET /v1/models/{id}`: one served model, or 404 model_not_found. */
function model(rq: GatewayRequest): void {
  const url = rq.req.url ?? "";
  const at = url.indexOf("/models/") + "/models/".length;
  const q = url.indexOf("?", at);
  let id = url.slice(at, q < 0 ? undefined : q);
  try {
    id = decodeURIComponent(id);
  } catch {
    /* left as sent */
  }
  const m = rq.gw.resolver.list().find((e) => e.id === id);
  if (m === undefined) throw modelNotFound(`The model '${id}' does not exist`);
  rq.ok(JSON.stringify({ id: m.id, object: "model", created: 0, owned_by: m.ownedBy }), null);
}

/** `/info` (TEI's, on the model chosen by header or path prefix, or the only one served). */
export const TEI_INFO: RouteSpec = { name: "/info", family: "tei", method: "GET", needsModel: true, handler: info };
/** `/health`: 200 while the (chosen) model has a ready replica, else TEI's 503. */
export const TEI_HEALTH: RouteSpec = { name: "/health", family: "tei", method: "GET", needsModel: false, handler: health };
/** `/metrics`. */
export const METRICS: RouteSpec = { name: "/metrics", family: "tei", method: "GET", needsModel: false, handler: metrics };
/** `/v1/models/{id}` (and `/models/{id}`). */
export const OPENAI_MODEL: RouteSpec = { name: "/v1/models/{id}", family: "openai", method: "GET", needsModel: false, handler: model };
/** `/v1/models`. */
export const OPENAI_MODELS: RouteSpec = { name: "/v1/models", family: "openai", method: "GET", needsModel: false, handler: models };
