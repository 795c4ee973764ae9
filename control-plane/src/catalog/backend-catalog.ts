import { create } from "@bufbuild/protobuf";
import { apiKeyHint, backendFromInput, type EnabledInput, parseBackend, storedUpstreamKey, underCurrentKey, upstreamKeyOf } from "@tei-fleet/core/catalog";
import type { SecretsKeyring } from "@tei-fleet/core/secrets";
import {
  type BackendHealth,
  BackendHealthSchema,
  BackendHealthStatus,
  type CatalogBackend,
  CatalogBackendSchema,
  type RemoteBackend,
  RemoteBackendSchema,
} from "@tei-fleet/proto/fleet/v1";
import { accepted, entryNotFound } from "./catalog-errors.ts";
import type { CatalogStore } from "./catalog-store.ts";
import { type WriteCondition, type WriteResult, writeEntry } from "./catalog-writes.ts";
import { sameContent, stamp } from "./entry-stamp.ts";

/** A page of backends, as the API shows them. */
export interface BackendPage {
  backends: RemoteBackend[];
  next: string;
}

/**
 * Remote backends: external TEI HTTP or OpenAI-compatible endpoints under a name. Stored with
 * their upstream key (CatalogBackend, what routers receive; sealed under the fleet's secrets key
 * when the control plane has one, core/src/catalog/backend-key.ts); everything this returns is
 * the backend alone (RemoteBackend: `has_api_key` and a hint), so no answer, event or log line
 * of the API can carry the key.
 */
export interface BackendCatalog {
  get(name: string): Promise<RemoteBackend>;
  list(after: string, limit: number): Promise<BackendPage>;
  /** Every backend with its key: for the health prober only. */
  allWithKeys(): Promise<CatalogBackend[]>;
  put(name: string, body: unknown, condition: WriteCondition): Promise<WriteResult<RemoteBackend>>;
  setEnabled(name: string, change: EnabledInput, condition: WriteCondition): Promise<RemoteBackend>;
  delete(name: string, condition: WriteCondition): Promise<void>;
  /**
   * Records a probe's verdict when it differs from the stored one. Health is observed state, not
   * the operator's: it keeps the revision (an operator's If-Match is not broken by a flapping
   * backend), and a PUT racing it may write the old health back, which the next probe repairs.
   */
  recordHealth(name: string, health: BackendHealth): Promise<boolean>;
  /**
   * Seals every stored key under the current secrets key (a plaintext one, or one sealed under a
   * previous key); keys it cannot open stay as they are. Like health, keeps the revision: the
   * operator's entry is the same. Returns how many entries it rewrote.
   */
  resealAll(): Promise<number>;
}

const what = (name: string) => `backend '${name}'`;
const hasKey = (k: { apiKey: string; sealedApiKey: string }) => k.apiKey !== "" || k.sealedApiKey !== "";
const stampOf = (b: CatalogBackend) => b.backend;
const unknownHealth = (now: number) => create(BackendHealthSchema, { status: BackendHealthStatus.UNKNOWN, sinceMs: BigInt(now) });

/**
 * Creates the backend catalog.
 * @param secrets - keys written are sealed with its current key (unset: stored as they came)
 */
export function createBackendCatalog(store: CatalogStore<typeof CatalogBackendSchema>, secrets?: SecretsKeyring): BackendCatalog {
  const shown = (stored: CatalogBackend | undefined): RemoteBackend | undefined => stored?.backend;

  return {
    async get(name) {
      const backend = shown(await store.get(name));
      if (backend === undefined) throw entryNotFound("backend", name);
      return backend;
    },
    async list(after, limit) {
      const page = await store.page(after, limit);
      return { backends: page.entries.flatMap((b) => (b.backend ? [b.backend] : [])), next: page.next };
    },
    allWithKeys: () => store.all(),
    async put(name, body, condition) {
      const input = accepted(parseBackend(name, body));
      const result = await writeEntry(store, name, what(name), condition, (current) => {
        const now = Date.now();
        const old = current?.backend;
        // Absent: keep the stored key (as stored: sealed or not); null: remove it; a string: the
        // new key, kept in its stored form when it is the stored one (a seal differs each time).
        const stored = { apiKey: current?.apiKey ?? "", sealedApiKey: current?.sealedApiKey ?? "" };
        let hint = old?.apiKeyHint ?? "";
        let sameKey = true;
        if (input.api_key !== undefined) {
          const key = input.api_key ?? "";
          sameKey = current !== undefined && upstreamKeyOf(current, secrets).key === key && (key !== "" || !hasKey(stored));
          if (!sameKey) Object.assign(stored, storedUpstreamKey(key, name, secrets));
          hint = key === "" ? "" : apiKeyHint(key);
        }
        // A key stored in plaintext, or under a previous secrets key, is sealed anew by the write.
        Object.assign(stored, underCurrentKey(stored, name, secrets));
        const backend = backendFromInput(name, input);
        backend.hasApiKey = hasKey(stored);
        backend.apiKeyHint = backend.hasApiKey ? hint : "";
        // What was probed still holds for the same endpoint; another endpoint is unknown until probed.
        const sameEndpoint = old !== undefined && old.url === backend.url && old.kind === backend.kind && sameKey;
        backend.health = sameEndpoint && old.health ? old.health : unknownHealth(now);
        const next = create(CatalogBackendSchema, { backend, ...stored });
        if (sameContent(CatalogBackendSchema, next, current, stampOf)) return { kind: "unchanged", entry: current };
        stamp(backend, old, now);
        // The event names the endpoint, never the key (the URL cannot hold credentials: core refuses them).
        const message = `backend '${name}' (${input.kind}) at ${backend.url}${backend.hasApiKey ? " with an API key" : ""}${backend.enabled === false ? " [disabled]" : ""}`;
        return { kind: "write", entry: next, event: { kind: current ? "catalog.backend.updated" : "catalog.backend.created", message } };
      });
      return { entry: shown(result.entry), created: result.created };
    },
    async setEnabled(name, change, condition) {
      const result = await writeEntry(store, name, what(name), condition, (current) => {
        const old = current?.backend;
        if (current === undefined || old === undefined) throw entryNotFound("backend", name);
        if ((old.enabled !== false) === change.enabled && (change.enabled || (change.reason ?? old.reason) === old.reason)) {
          return { kind: "unchanged", entry: current };
        }
        const backend = create(RemoteBackendSchema, { ...old, enabled: change.enabled, reason: change.enabled ? "" : (change.reason ?? old.reason) });
        stamp(backend, old, Date.now());
        const kind = change.enabled ? "catalog.backend.enabled" : "catalog.backend.disabled";
        return {
          kind: "write",
          entry: create(CatalogBackendSchema, { backend, apiKey: current.apiKey, sealedApiKey: current.sealedApiKey }),
          event: { kind, message: `backend '${name}' ${change.enabled ? "enabled" : `disabled${backend.reason ? `: ${backend.reason}` : ""}`}` },
        };
      });
      return shown(result.entry)!;
    },
    async delete(name, condition) {
      await writeEntry(store, name, what(name), condition, (current) => {
        if (current === undefined) throw entryNotFound("backend", name);
        return { kind: "write", entry: undefined, event: { kind: "catalog.backend.deleted", message: `backend '${name}' deleted` } };
      });
    },
    async resealAll() {
      if (secrets === undefined) return 0;
      let resealed = 0;
      for (const entry of await store.all()) {
        const name = entry.backend?.name ?? "";
        if (name === "" || underCurrentKey(entry, name, secrets) === entry) continue;
        await writeEntry(store, name, what(name), undefined, (current) => {
          if (current === undefined) return { kind: "unchanged", entry: current };
          const stored = underCurrentKey(current, name, secrets);
          if (stored === current) return { kind: "unchanged", entry: current };
          resealed++;
          return {
            kind: "write",
            entry: create(CatalogBackendSchema, { backend: current.backend, ...stored }),
            event: { kind: "catalog.backend.resealed", message: `backend '${name}': API key sealed under secrets key ${secrets.current.id}` },
          };
        });
      }
      return resealed;
    },
    async recordHealth(name, health) {
      let wrote = false;
      await writeEntry(store, name, what(name), undefined, (current) => {
        const old = current?.backend;
        if (current === undefined || old === undefined) return { kind: "unchanged", entry: current };
        if (old.health?.status === health.status && old.health.error === health.error) return { kind: "unchanged", entry: current };
        wrote = true;
        const backend = create(RemoteBackendSchema, { ...old, health });
        const verdict = health.status === BackendHealthStatus.HEALTHY ? "healthy" : `unhealthy: ${health.error}`;
        return {
          kind: "write",
          entry: create(CatalogBackendSchema, { backend, apiKey: current.apiKey, sealedApiKey: current.sealedApiKey }),
          event: {
            kind: health.status === BackendHealthStatus.HEALTHY ? "catalog.backend.healthy" : "catalog.backend.unhealthy",
            message: `backend '${name}' ${verdict}`,
          },
        };
      });
      return wrote;
    },
  };
}
