import { toJsonString } from "@bufbuild/protobuf";
import { type ApiKey, ApiKeySchema, type RouterApiKey, RouterApiKeySchema } from "@tei-fleet/proto/fleet/v1";
import type { Redis } from "ioredis";
import type { EntryWrite, WriteOutcome } from "../catalog/catalog-store.ts";
import type { EntryStore } from "../catalog/catalog-writes.ts";
import type { KeySchema } from "../store/keys.ts";
import { readLuaSource } from "../store/lua-source.ts";
import { decodeRecord } from "../store/record-codec.ts";

/** One key as stored: the API's record and, unless revoked, what routers check it with. */
export interface StoredKey {
  record: ApiKey;
  router: RouterApiKey | undefined;
}

/** The API keys in Redis: records (api-keys) and routers' entries (api-keys-router, watched). */
export interface KeyStore extends EntryStore<StoredKey> {
  page(after: string, limit: number): Promise<{ entries: ApiKey[]; next: string }>;
}

const WRITE = "tfKeyWrite";
const writeLua = readLuaSource(new URL("./lua/key-write-6.lua", import.meta.url));

/** Creates the store; every write is one run of key-write.lua. */
export function createKeyStore(redis: Redis, keys: KeySchema): KeyStore {
  if (!(WRITE in redis)) redis.defineCommand(WRITE, { numberOfKeys: 6, lua: writeLua });
  const run = (redis as unknown as Record<string, (...args: string[]) => Promise<string[]>>)[WRITE]!;
  const index = keys.catalogIndex("apiKey");
  const record = (json: string | null | undefined) => {
    if (!json) return undefined;
    const d = decodeRecord(ApiKeySchema, json);
    return d.kind === "unreadable" ? undefined : d.message;
  };
  const routerEntry = (json: string | null | undefined) => {
    if (!json) return undefined;
    const d = decodeRecord(RouterApiKeySchema, json);
    return d.kind === "unreadable" ? undefined : d.message;
  };

  return {
    revisionOf: (stored) => stored.record.revision,
    async get(id) {
      const [r, k] = (await redis.multi().hget(keys.apiKeys(), id).hget(keys.apiKeysRouter(), id).exec()) ?? [];
      const found = record(r?.[1] as string | null);
      return found === undefined ? undefined : { record: found, router: routerEntry(k?.[1] as string | null) };
    },
    async page(after, limit) {
      const ids = await redis.zrangebylex(index, after === "" ? "-" : `(${after}`, "+", "LIMIT", 0, limit + 1);
      const wanted = ids.slice(0, limit);
      const values = wanted.length === 0 ? [] : await redis.hmget(keys.apiKeys(), ...wanted);
      return { entries: values.map(record).filter((e): e is ApiKey => e !== undefined), next: ids.length > limit ? (wanted.at(-1) ?? "") : "" };
    },
    async write(w: EntryWrite<StoredKey>): Promise<WriteOutcome> {
      const reply = await run.call(
        redis,
        keys.apiKeys(),
        index,
        keys.apiKeysRouter(),
        keys.routesVersion(),
        keys.routesLog(),
        keys.events(),
        w.key,
        w.entry === undefined ? "" : toJsonString(ApiKeySchema, w.entry.record),
        w.entry?.router === undefined ? "" : toJsonString(RouterApiKeySchema, w.entry.router),
        String(w.basedOn),
        keys.changesChannel(),
        w.event.kind,
        w.event.message,
        String(Date.now()),
      );
      if (reply[0] === "ok") return { kind: "ok", version: BigInt(reply[1] ?? 0) };
      if (reply[0] === "conflict") return { kind: "conflict", current: BigInt(reply[1] ?? 0) };
      return { kind: "absent" };
    },
  };
}
