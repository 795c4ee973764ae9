import { type DescMessage, type MessageShape, toJsonString } from "@bufbuild/protobuf";
import type { Redis } from "ioredis";
import type { KeySchema } from "../store/keys.ts";
import { readLuaSource } from "../store/lua-source.ts";
import { decodeRecord } from "../store/record-codec.ts";
import type { CatalogCollection } from "./collections/catalog-collections.ts";

export type { CatalogCollection } from "./collections/catalog-collections.ts";

/** What a write did. */
export type WriteOutcome =
  | { kind: "ok"; version: bigint }
  | { kind: "conflict"; current: bigint }
  /** The guard counter moved: another write may have changed what the entry was checked against. */
  | { kind: "guard" }
  /** A delete of an entry that is not there. */
  | { kind: "absent" };

/** A page of entries, in key order. */
export interface EntryPage<T> {
  entries: T[];
  /** The last key of this page when more may follow; "" at the end. */
  next: string;
}

/** One write: the new entry (undefined deletes), the revision it replaces, and the event that tells of it. */
export interface EntryWrite<T> {
  key: string;
  entry: T | undefined;
  /** The stored revision the write is based on; 0: the entry must not exist. */
  basedOn: bigint;
  /** The guard counter's value the caller checked against (aliases), or undefined. */
  guard?: string;
  event: { kind: string; message: string };
}

/**
 * Reads and writes one catalog collection in Redis. Reads are plain hash reads; every write is
 * one run of catalog-write.lua (compare-and-set on the revision, the change-log record that makes
 * it a watch delta, the fleet event), so an entry, its watchers and the events never disagree.
 */
export interface CatalogStore<S extends DescMessage> {
  readonly collection: CatalogCollection<S>;
  get(key: string): Promise<MessageShape<S> | undefined>;
  revisionOf(entry: MessageShape<S>): bigint;
  /** Up to `limit` entries after key `after` ("" from the start), in key order. */
  page(after: string, limit: number): Promise<EntryPage<MessageShape<S>>>;
  /** Every entry (the alias graph needs them all; catalogs are small next to the route table). */
  all(): Promise<MessageShape<S>[]>;
  write(write: EntryWrite<MessageShape<S>>): Promise<WriteOutcome>;
}

const WRITE = "tfCatalogWrite";
const writeLua = readLuaSource(new URL("./lua/catalog-write-6.lua", import.meta.url));

/** Creates the store of one collection. Entries that cannot be decoded are left out of reads (the watch's decoder reports them). */
export function createCatalogStore<S extends DescMessage>(redis: Redis, keys: KeySchema, collection: CatalogCollection<S>): CatalogStore<S> {
  if (!(WRITE in redis)) redis.defineCommand(WRITE, { numberOfKeys: 6, lua: writeLua });
  const run = (redis as unknown as Record<string, (...args: string[]) => Promise<string[]>>)[WRITE]!;
  const decode = (json: string | null | undefined): MessageShape<S> | undefined => {
    if (json === null || json === undefined) return undefined;
    const decoded = decodeRecord(collection.schema, json);
    return decoded.kind === "unreadable" ? undefined : decoded.message;
  };

  return {
    collection,
    revisionOf: (entry) => collection.revisionOf(entry),
    async get(key) {
      return decode(await redis.hget(collection.hashKey, key));
    },
    async page(after, limit) {
      const names = await redis.zrangebylex(collection.indexKey, after === "" ? "-" : `(${after}`, "+", "LIMIT", 0, limit + 1);
      const more = names.length > limit;
      const wanted = names.slice(0, limit);
      const values = wanted.length === 0 ? [] : await redis.hmget(collection.hashKey, ...wanted);
      const entries = values.map(decode).filter((e): e is MessageShape<S> => e !== undefined);
      return { entries, next: more ? (wanted.at(-1) ?? "") : "" };
    },
    async all() {
      const hash = await redis.hgetall(collection.hashKey);
      return Object.values(hash)
        .map(decode)
        .filter((e): e is MessageShape<S> => e !== undefined);
    },
    async write(w) {
      const reply = await run.call(
        redis,
        collection.hashKey,
        collection.indexKey,
        keys.routesVersion(),
        keys.routesLog(),
        keys.events(),
        keys.catalogAliasGraph(),
        collection.collection,
        w.key,
        w.entry === undefined ? "" : toJsonString(collection.schema, w.entry),
        String(w.basedOn),
        w.guard ?? "",
        keys.changesChannel(),
        w.event.kind,
        w.event.message,
        String(Date.now()),
      );
      switch (reply[0]) {
        case "ok":
          return { kind: "ok", version: BigInt(reply[1] ?? 0) };
        case "conflict":
          return { kind: "conflict", current: BigInt(reply[1] ?? 0) };
        case "guard":
          return { kind: "guard" };
        default:
          return { kind: "absent" };
      }
    },
  };
}
