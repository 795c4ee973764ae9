import { type AliasGraph, aliasFromInput, aliasGraphProblem, type EnabledInput, parseAlias } from "@tei-fleet/core/catalog";
import { type CatalogAlias, CatalogAliasSchema } from "@tei-fleet/proto/fleet/v1";
import type { Redis } from "ioredis";
import type { KeySchema } from "../store/keys.ts";
import { accepted, entryNotFound, throwCatalogProblem } from "./catalog-errors.ts";
import type { CatalogStore } from "./catalog-store.ts";
import { type WriteCondition, type WriteResult, writeEntry } from "./catalog-writes.ts";
import { sameContent, stamp } from "./entry-stamp.ts";

/** A page of aliases. */
export interface AliasPage {
  aliases: CatalogAlias[];
  next: string;
}

/** Aliases: names clients call that resolve to weighted targets (catalog.proto). */
export interface AliasCatalog {
  get(name: string): Promise<CatalogAlias>;
  list(after: string, limit: number): Promise<AliasPage>;
  /** Creates or replaces alias `name` from a REST-shaped body (Connect converts first). */
  put(name: string, body: unknown, condition: WriteCondition): Promise<WriteResult<CatalogAlias>>;
  setEnabled(name: string, change: EnabledInput, condition: WriteCondition): Promise<CatalogAlias>;
  delete(name: string, condition: WriteCondition): Promise<void>;
}

/** How an alias reads in an event: `canary → model_id BAAI/bge-small-en-v1.5 (95), instance bge-next (5)`. */
export function describeAlias(alias: CatalogAlias): string {
  const targets = alias.targets.map((t) => `${t.target.case === "modelId" ? "model_id" : t.target.case} ${t.target.value} (${t.weight})`);
  return `alias '${alias.name}' → ${targets.join(", ")}${alias.enabled === false ? " [disabled]" : ""}`;
}

/**
 * Creates the alias catalog. Writes of targets are checked against every stored alias for
 * cycles and depth (core's alias-graph.ts) under the graph counter, which the write script
 * checks and bumps: two writes that each look fine alone (a → b, b → a) cannot both land.
 */
export function createAliasCatalog(redis: Redis, keys: KeySchema, store: CatalogStore<typeof CatalogAliasSchema>): AliasCatalog {
  const what = (name: string) => `alias '${name}'`;

  async function get(name: string): Promise<CatalogAlias> {
    const alias = await store.get(name);
    if (alias === undefined) throw entryNotFound("alias", name);
    return alias;
  }

  return {
    get,
    async list(after, limit) {
      const page = await store.page(after, limit);
      return { aliases: page.entries, next: page.next };
    },
    async put(name, body, condition) {
      const input = accepted(parseAlias(name, body));
      const next = aliasFromInput(name, input);
      return writeEntry(store, name, what(name), condition, async (current) => {
        if (sameContent(CatalogAliasSchema, next, current, (a) => a)) return { kind: "unchanged", entry: current };
        // The counter first: a write landing after this read moves it, and this write retries.
        const guard = (await redis.get(keys.catalogAliasGraph())) ?? "0";
        const graph: AliasGraph = new Map(
          (await store.all()).map((a) => [a.name, a.targets.flatMap((t) => (t.target.case === "alias" ? [t.target.value] : []))]),
        );
        const problem = aliasGraphProblem(
          name,
          next.targets.map((t) => (t.target.case === "alias" ? t.target.value : undefined)),
          graph,
        );
        if (problem !== undefined) throwCatalogProblem(problem);
        const entry = { ...next } as CatalogAlias;
        stamp(entry, current, Date.now());
        return { kind: "write", entry, guard, event: { kind: current ? "catalog.alias.updated" : "catalog.alias.created", message: describeAlias(entry) } };
      });
    },
    async setEnabled(name, change, condition) {
      const result = await writeEntry(store, name, what(name), condition, (current) => {
        if (current === undefined) throw entryNotFound("alias", name);
        if ((current.enabled !== false) === change.enabled && (change.enabled || (change.reason ?? current.reason) === current.reason)) {
          return { kind: "unchanged", entry: current };
        }
        const entry = { ...current, enabled: change.enabled, reason: change.enabled ? "" : (change.reason ?? current.reason) } as CatalogAlias;
        stamp(entry, current, Date.now());
        const kind = change.enabled ? "catalog.alias.enabled" : "catalog.alias.disabled";
        return {
          kind: "write",
          entry,
          event: { kind, message: `alias '${name}' ${change.enabled ? "enabled" : `disabled${entry.reason ? `: ${entry.reason}` : ""}`}` },
        };
      });
      return result.entry!;
    },
    async delete(name, condition) {
      await writeEntry(store, name, what(name), condition, (current) => {
        if (current === undefined) throw entryNotFound("alias", name);
        return { kind: "write", entry: undefined, event: { kind: "catalog.alias.deleted", message: `alias '${name}' deleted` } };
      });
    },
  };
}
