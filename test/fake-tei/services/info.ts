/**
 * tei.v1.Info: the configuration TEI reports (tei.md §5.3). model_sha is the --revision
 * argument as given; sha and docker_label are build metadata the fake leaves unset.
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { Info, ModelType } from "@tei-fleet/proto/tei/v1";
import { TEI_VERSION } from "../cli.ts";
import type { Runtime } from "./runtime.ts";

const MODEL_TYPES = {
  embedding: ModelType.EMBEDDING,
  classifier: ModelType.CLASSIFIER,
  reranker: ModelType.RERANKER,
} as const;

/** Registers tei.v1.Info; `dtype` and `tokenizationWorkers` are the effective values. */
export function registerInfo(router: ConnectRouter, rt: Runtime, effective: { dtype: string; tokenizationWorkers: number }): void {
  const response = {
    version: TEI_VERSION,
    modelId: rt.args.modelId,
    modelSha: rt.args.revision,
    modelDtype: effective.dtype,
    modelType: MODEL_TYPES[rt.model.kind],
    maxConcurrentRequests: rt.args.maxConcurrentRequests,
    maxInputLength: rt.maxInputLength,
    maxBatchTokens: rt.args.maxBatchTokens,
    maxBatchRequests: rt.args.maxBatchRequests,
    maxClientBatchSize: rt.args.maxClientBatchSize,
    tokenizationWorkers: effective.tokenizationWorkers,
  };
  router.service(Info, { info: () => response });
}
