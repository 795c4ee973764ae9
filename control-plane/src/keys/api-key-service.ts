import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { apiKeyDisplayPrefix, generateApiKey, hashApiKey, keySettingsFromInput, newKeyRecord, parseApiKey, parseRotate } from "@tei-fleet/core/keys";
import { type ApiKey, ApiKeySchema, type RouterApiKey, RouterApiKeySchema } from "@tei-fleet/proto/fleet/v1";
import { accepted, entryNotFound } from "../catalog/catalog-errors.ts";
import { type WriteCondition, writeEntry } from "../catalog/catalog-writes.ts";
import { stamp } from "../catalog/entry-stamp.ts";
import { ApiError } from "../errors/api-error.ts";
import type { KeyStore, StoredKey } from "./key-store.ts";

/** A key and, in the answers that make one, its secret (shown there only). */
export interface IssuedKey {
  key: ApiKey;
  secret: string;
}

/** API keys (api_key.proto): created, listed, changed, rotated, revoked and deleted. */
export interface ApiKeyService {
  create(body: unknown): Promise<IssuedKey>;
  get(id: string): Promise<ApiKey>;
  list(after: string, limit: number): Promise<{ keys: ApiKey[]; next: string }>;
  /** Replaces the settings (name, owner, models, limits, expiry); the key itself stays. */
  update(id: string, body: unknown, condition: WriteCondition): Promise<ApiKey>;
  /** A new secret for the record; the previous one works for `grace_seconds` more (0: not at all). */
  rotate(id: string, body: unknown, condition: WriteCondition): Promise<IssuedKey>;
  /** Stops the key everywhere (its routers' entry removed: one delta); the record stays, marked revoked. */
  revoke(id: string, condition: WriteCondition): Promise<ApiKey>;
  delete(id: string, condition: WriteCondition): Promise<void>;
}

/** A key id: `k_` and 16 hex digits, chosen by the server. */
const KEY_ID = /^k_[0-9a-f]{16}$/;

/** Refuses a malformed key id with a 400 naming `id`. */
export function checkKeyId(id: string): string {
  if (!KEY_ID.test(id)) throw new ApiError("VALIDATION_ERROR", `id must be a key id such as k_3f9c2a7d1e0b4c58 (got '${id.slice(0, 40)}')`, { field: "id" });
  return id;
}

/** What routers need of a record, with the hashes they check against. */
function routerEntry(record: ApiKey, sha256: string, previous?: { sha256: string; expiresAtMs: bigint }): RouterApiKey {
  return create(RouterApiKeySchema, {
    id: record.id,
    sha256,
    models: record.models,
    limits: record.limits,
    expiresAtMs: record.expiresAtMs,
    owner: record.owner,
    name: record.name,
    weight: record.weight || 1,
    previousSha256: previous?.sha256 ?? "",
    previousExpiresAtMs: previous?.expiresAtMs ?? 0n,
  });
}

/** How a key reads in an event: its id, name and owner, never the key or its hash. */
const describe = (record: ApiKey) => `API key ${record.id} '${record.name}'${record.owner ? ` of ${record.owner}` : ""}`;

/**
 * Creates the service. The secret is made here, hashed at once, and returned to the caller
 * alone: it never reaches Redis, a log line or an event (the record holds a 4-character prefix
 * to tell keys apart).
 */
export function createApiKeyService(store: KeyStore): ApiKeyService {
  const what = (id: string) => `API key ${id}`;
  const live = (current: StoredKey | undefined, id: string): StoredKey => {
    if (current === undefined) throw entryNotFound("key", id);
    if (current.record.revokedAtMs > 0n) throw new ApiError("API_KEY_REVOKED", `API key ${id} is revoked; create another`, { field: "id" });
    return current;
  };

  return {
    async create(body) {
      const settings = keySettingsFromInput(accepted(parseApiKey(body)));
      const secret = generateApiKey();
      const id = `k_${randomBytes(8).toString("hex")}`;
      const record = newKeyRecord(id, settings);
      record.prefix = apiKeyDisplayPrefix(secret);
      stamp(record, undefined, Date.now());
      const result = await writeEntry(store, id, what(id), { kind: "revision", revision: 0n }, () => ({
        kind: "write",
        entry: { record, router: routerEntry(record, hashApiKey(secret)) },
        event: { kind: "api_key.created", message: `${describe(record)} created` },
      }));
      return { key: result.entry!.record, secret };
    },
    async get(id) {
      const stored = await store.get(checkKeyId(id));
      if (stored === undefined) throw entryNotFound("key", id);
      return stored.record;
    },
    async list(after, limit) {
      const page = await store.page(after, limit);
      return { keys: page.entries, next: page.next };
    },
    async update(id, body, condition) {
      checkKeyId(id);
      const settings = keySettingsFromInput(accepted(parseApiKey(body)));
      const result = await writeEntry(store, id, what(id), condition, (current) => {
        const { record: old, router } = live(current, id);
        const record = create(ApiKeySchema, { ...old, ...settings });
        stamp(record, old, Date.now());
        const next =
          router &&
          create(RouterApiKeySchema, {
            ...routerEntry(record, router.sha256),
            previousSha256: router.previousSha256,
            previousExpiresAtMs: router.previousExpiresAtMs,
          });
        return { kind: "write", entry: { record, router: next }, event: { kind: "api_key.updated", message: `${describe(record)} updated` } };
      });
      return result.entry!.record;
    },
    async rotate(id, body, condition) {
      checkKeyId(id);
      const { grace_seconds: grace } = accepted(parseRotate(body));
      const secret = generateApiKey();
      const result = await writeEntry(store, id, what(id), condition, (current) => {
        const { record: old, router } = live(current, id);
        const now = Date.now();
        const record = create(ApiKeySchema, { ...old, prefix: apiKeyDisplayPrefix(secret), rotatedAtMs: BigInt(now) });
        stamp(record, old, now);
        const previous = grace > 0 && router ? { sha256: router.sha256, expiresAtMs: BigInt(now + grace * 1000) } : undefined;
        const message = `${describe(record)} rotated${previous ? `; the previous key works for ${grace} s more` : ""}`;
        return { kind: "write", entry: { record, router: routerEntry(record, hashApiKey(secret), previous) }, event: { kind: "api_key.rotated", message } };
      });
      return { key: result.entry!.record, secret };
    },
    async revoke(id, condition) {
      checkKeyId(id);
      const result = await writeEntry(store, id, what(id), condition, (current) => {
        const { record: old } = live(current, id);
        const now = Date.now();
        const record = create(ApiKeySchema, { ...old, revokedAtMs: BigInt(now) });
        stamp(record, old, now);
        return { kind: "write", entry: { record, router: undefined }, event: { kind: "api_key.revoked", message: `${describe(record)} revoked` } };
      });
      return result.entry!.record;
    },
    async delete(id, condition) {
      checkKeyId(id);
      await writeEntry(store, id, what(id), condition, (current) => {
        if (current === undefined) throw entryNotFound("key", id);
        return { kind: "write", entry: undefined, event: { kind: "api_key.deleted", message: `${describe(current.record)} deleted` } };
      });
    },
  };
}
