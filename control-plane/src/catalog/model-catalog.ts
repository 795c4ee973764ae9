import { create } from "@bufbuild/protobuf";
import { type EnabledInput, modelFromInput, modelIdResult, parseModel } from "@tei-fleet/core/catalog";
import { type CatalogModel, CatalogModelSchema } from "@tei-fleet/proto/fleet/v1";
import { accepted, entryNotFound } from "./catalog-errors.ts";
import type { CatalogStore } from "./catalog-store.ts";
import { type WriteCondition, type WriteResult, writeEntry } from "./catalog-writes.ts";
import { sameContent, stamp } from "./entry-stamp.ts";

/** A page of model entries. */
export interface ModelPage {
  models: CatalogModel[];
  next: string;
}

/**
 * Model switches: the settings of model ids (enabled or not, and why). A model id without an
 * entry is enabled; the entry only records what differs, so switching a model off is one small
 * write and one delta, and its instances keep running.
 */
export interface ModelCatalog {
  get(modelId: string): Promise<CatalogModel>;
  list(after: string, limit: number): Promise<ModelPage>;
  put(modelId: string, body: unknown, condition: WriteCondition): Promise<WriteResult<CatalogModel>>;
  /** Switches a model id on or off; an id without an entry gets one. */
  setEnabled(modelId: string, change: EnabledInput, condition: WriteCondition): Promise<CatalogModel>;
  delete(modelId: string, condition: WriteCondition): Promise<void>;
}

const what = (id: string) => `model entry '${id}'`;

/** Creates the model catalog. */
export function createModelCatalog(store: CatalogStore<typeof CatalogModelSchema>): ModelCatalog {
  return {
    async get(modelId) {
      const model = await store.get(modelId);
      if (model === undefined) throw entryNotFound("model", modelId);
      return model;
    },
    async list(after, limit) {
      const page = await store.page(after, limit);
      return { models: page.entries, next: page.next };
    },
    async put(modelId, body, condition) {
      const next = modelFromInput(modelId, accepted(parseModel(modelId, body)));
      return writeEntry(store, modelId, what(modelId), condition, (current) => {
        if (sameContent(CatalogModelSchema, next, current, (m) => m)) return { kind: "unchanged", entry: current };
        const entry = { ...next } as CatalogModel;
        stamp(entry, current, Date.now());
        const state = entry.enabled === false ? `disabled${entry.reason ? `: ${entry.reason}` : ""}` : "enabled";
        return { kind: "write", entry, event: { kind: current ? "catalog.model.updated" : "catalog.model.created", message: `model '${modelId}' ${state}` } };
      });
    },
    async setEnabled(modelId, change, condition) {
      accepted(modelIdResult(modelId));
      const result = await writeEntry(store, modelId, what(modelId), condition, (current) => {
        const base = current ?? create(CatalogModelSchema, { modelId, enabled: true });
        if ((base.enabled !== false) === change.enabled && current !== undefined && (change.enabled || (change.reason ?? base.reason) === base.reason)) {
          return { kind: "unchanged", entry: current };
        }
        const entry = { ...base, enabled: change.enabled, reason: change.enabled ? "" : (change.reason ?? base.reason) } as CatalogModel;
        stamp(entry, current, Date.now());
        const kind = change.enabled ? "catalog.model.enabled" : "catalog.model.disabled";
        return {
          kind: "write",
          entry,
          event: { kind, message: `model '${modelId}' ${change.enabled ? "enabled" : `disabled${entry.reason ? `: ${entry.reason}` : ""}`}` },
        };
      });
      return result.entry!;
    },
    async delete(modelId, condition) {
      await writeEntry(store, modelId, what(modelId), condition, (current) => {
        if (current === undefined) throw entryNotFound("model", modelId);
        return {
          kind: "write",
          entry: undefined,
          event: { kind: "catalog.model.deleted", message: `model entry '${modelId}' deleted (the model is enabled)` },
        };
      });
    },
  };
}
