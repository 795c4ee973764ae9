import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { aliasInputFromProto, backendInputFromProto, catalogNameResult, modelIdResult, modelInputFromProto } from "@tei-fleet/core/catalog";
import {
  CatalogService,
  DeleteAliasResponseSchema,
  DeleteBackendResponseSchema,
  DeleteModelResponseSchema,
  GetAliasResponseSchema,
  GetBackendResponseSchema,
  GetModelResponseSchema,
  ListAliasesResponseSchema,
  ListBackendsResponseSchema,
  ListModelsResponseSchema,
  PutAliasResponseSchema,
  PutBackendResponseSchema,
  PutModelResponseSchema,
  SetEnabledResponseSchema,
} from "@tei-fleet/proto/fleet/v1";
import { ApiError } from "../errors/api-error.ts";
import { accepted } from "./catalog-errors.ts";
import type { WriteCondition } from "./catalog-writes.ts";
import type { Catalog } from "./create-catalog.ts";

/** Connect's `expected_revision` as a write condition. */
export const revisionCondition = (expected: bigint | undefined): WriteCondition =>
  expected === undefined ? undefined : { kind: "revision", revision: expected };

/** A Connect page request: the size (default 100, at most 1000) and the token (the last key of the previous page). */
export function pageOf(req: { pageSize: number; pageToken: string }): { after: string; limit: number } {
  if (req.pageSize > 1000) throw new ApiError("VALIDATION_ERROR", `page_size must be at most 1000 (got ${req.pageSize})`, { field: "page_size" });
  return { after: req.pageToken, limit: req.pageSize === 0 ? 100 : req.pageSize };
}

/** A message field that must be set. */
function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new ApiError("MISSING_FIELD", `${field} is required`, { field });
  return value;
}

/**
 * CatalogService over Connect, gRPC and gRPC-web: the REST routes' operations on the same
 * catalog, messages converted to REST bodies and validated by the same core rules (so the same
 * input gets the same verdict, code and field on both surfaces). Errors are mapped by the
 * server's interceptor (connect/connect-errors.ts); nothing here builds a ConnectError.
 */
export function catalogConnectRoutes(catalog: Catalog): (router: ConnectRouter) => void {
  const { aliases, models, backends } = catalog;
  const aliasName = (name: string) => accepted(catalogNameResult("alias", name));
  const backendName = (name: string) => accepted(catalogNameResult("backend", name));
  const modelId = (id: string) => accepted(modelIdResult(id));

  return (router) =>
    router.service(CatalogService, {
      async listAliases(req) {
        const { after, limit } = pageOf(req);
        const page = await aliases.list(after, limit);
        return create(ListAliasesResponseSchema, { aliases: page.aliases, nextPageToken: page.next });
      },
      async getAlias(req) {
        return create(GetAliasResponseSchema, { alias: await aliases.get(aliasName(req.name)) });
      },
      async putAlias(req) {
        const alias = required(req.alias, "alias");
        const result = await aliases.put(aliasName(alias.name), aliasInputFromProto(alias), revisionCondition(req.expectedRevision));
        return create(PutAliasResponseSchema, { alias: result.entry, created: result.created });
      },
      async deleteAlias(req) {
        await aliases.delete(aliasName(req.name), revisionCondition(req.expectedRevision));
        return create(DeleteAliasResponseSchema);
      },
      async listModels(req) {
        const { after, limit } = pageOf(req);
        const page = await models.list(after, limit);
        return create(ListModelsResponseSchema, { models: page.models, nextPageToken: page.next });
      },
      async getModel(req) {
        return create(GetModelResponseSchema, { model: await models.get(modelId(req.modelId)) });
      },
      async putModel(req) {
        const model = required(req.model, "model");
        const result = await models.put(modelId(model.modelId), modelInputFromProto(model), revisionCondition(req.expectedRevision));
        return create(PutModelResponseSchema, { model: result.entry, created: result.created });
      },
      async deleteModel(req) {
        await models.delete(modelId(req.modelId), revisionCondition(req.expectedRevision));
        return create(DeleteModelResponseSchema);
      },
      async listBackends(req) {
        const { after, limit } = pageOf(req);
        const page = await backends.list(after, limit);
        return create(ListBackendsResponseSchema, { backends: page.backends, nextPageToken: page.next });
      },
      async getBackend(req) {
        return create(GetBackendResponseSchema, { backend: await backends.get(backendName(req.name)) });
      },
      async putBackend(req) {
        const backend = required(req.backend, "backend");
        const result = await backends.put(backendName(backend.name), backendInputFromProto(backend, req.apiKey), revisionCondition(req.expectedRevision));
        return create(PutBackendResponseSchema, { backend: result.entry, created: result.created });
      },
      async deleteBackend(req) {
        await backends.delete(backendName(req.name), revisionCondition(req.expectedRevision));
        return create(DeleteBackendResponseSchema);
      },
      async setEnabled(req) {
        const change = { enabled: req.enabled, reason: req.reason === "" ? undefined : req.reason };
        const condition = revisionCondition(req.expectedRevision);
        switch (req.target.case) {
          case "alias":
            return create(SetEnabledResponseSchema, {
              entry: { case: "alias", value: await aliases.setEnabled(aliasName(req.target.value), change, condition) },
            });
          case "modelId":
            return create(SetEnabledResponseSchema, { entry: { case: "model", value: await models.setEnabled(modelId(req.target.value), change, condition) } });
          case "backend":
            return create(SetEnabledResponseSchema, {
              entry: { case: "backend", value: await backends.setEnabled(backendName(req.target.value), change, condition) },
            });
          default:
            throw new ApiError("MISSING_FIELD", "one of alias, model_id or backend is required", { field: "target" });
        }
      },
    });
}
