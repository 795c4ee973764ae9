/**
 * The model catalog's shared rules (`@tei-fleet/core/catalog`): names, the REST bodies' schemas
 * of aliases, model switches and remote backends, their validation, the rule over the alias
 * graph (no cycle, bounded depth) and the conversions between REST JSON and catalog.proto. The
 * control plane validates REST and Connect with it; `teictl` validates fleet files with it.
 * Verdicts are {@link CatalogProblem}s, which each caller turns into its own error type.
 */
export { type AliasGraph, aliasGraphProblem, MAX_ALIAS_DEPTH } from "./alias-graph.ts";
export { type StoredUpstreamKey, storedUpstreamKey, type UpstreamKey, underCurrentKey, upstreamKeyOf } from "./backend-key.ts";
export { type CatalogNameKind, catalogNameProblem, ModelIdSchema, modelIdProblem } from "./catalog-names.ts";
export type { CatalogProblem, CatalogProblemCode, CatalogResult } from "./catalog-problem.ts";
export {
  aliasFromInput,
  aliasInputFromProto,
  aliasToJson,
  apiKeyHint,
  backendFromInput,
  backendInputFromProto,
  backendToJson,
  healthToJson,
  modelFromInput,
  modelInputFromProto,
  modelToJson,
} from "./catalog-proto.ts";
export {
  AliasBody,
  type AliasInput,
  AliasTargetBody,
  BACKEND_KINDS,
  BackendBody,
  type BackendInput,
  BackendUrlSchema,
  EnabledBody,
  type EnabledInput,
  MAX_ALIAS_TARGETS,
  MAX_TARGET_WEIGHT,
  ModelBody,
  type ModelInput,
  TARGET_KINDS,
  UpstreamApiKeySchema,
} from "./catalog-schemas.ts";
export { catalogNameResult, modelIdResult, parseAlias, parseBackend, parseEnabled, parseModel } from "./catalog-validation.ts";
