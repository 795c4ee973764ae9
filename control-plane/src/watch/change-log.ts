import { randomBytes } from "node:crypto";
import { isWatchCollection, type WatchCollection } from "@tei-fleet/core/watch";
import type { WatchEntry } from "@tei-fleet/proto/fleet/v1";
import type { Redis } from "ioredis";
import { readLuaSource } from "../store/lua-source.ts";
import type { WatchedSet } from "./watched-set.ts";

/** One change the log recorded. */
export interface LoggedChange {
  version: bigint;
  /**
   * undefined for a collection this build does not know (a newer control plane added it): its
   * versions still count, but nobody here applies it.
   */
  collection: WatchCollection | undefined;
  key: string;
}

/** A change with the entry's value at the version read (undefined: removed). */
export interface ReadChange extends LoggedChange {
  entry: WatchEntry | undefined;
}

/** Everything in a set at one version. */
export interface SetSnapshot {
  epoch: string;
  version: bigint;
  entries: WatchEntry[];
  /** The change log as it is, oldest first (only when asked for). */
  log: LoggedChange[];
}

/** The changes after a version. */
export interface SetChanges {
  /** null when the set has no epoch (Redis was flushed): the reader takes a snapshot. */
  epoch: string | null;
  /** The set's version counter now. */
  version: bigint;
  changes: ReadChange[];
}

/** Reads a watched set and its change log from Redis (see watched-set.ts). */
export interface ChangeLog {
  /** The whole set, consistent with its version (one MULTI); its epoch is created when missing. */
  snapshot(withLog: boolean): Promise<SetSnapshot>;
  /** Up to `max` changes after `version`, with their entries' values at the version returned. */
  changesAfter(version: bigint, max: number): Promise<SetChanges>;
  /** Starts a new history: the version went back, so no position taken before may be resumed. */
  newEpoch(): Promise<void>;
}

const READ_CHANGES = "tfWatchReadChanges";
const readChangesLua = readLuaSource(new URL("./lua/read-changes.lua", import.meta.url));

/** A new epoch: 12 characters, random, so that two histories never share one. */
const freshEpoch = () => randomBytes(9).toString("base64url");

/** Creates the reader of one set on `redis`. */
export function createChangeLog(redis: Redis, set: WatchedSet): ChangeLog {
  if (!(READ_CHANGES in redis)) redis.defineCommand(READ_CHANGES, { lua: readChangesLua });
  const command = (redis as unknown as Record<string, (...args: Array<string | number>) => Promise<Array<string | null>>>)[READ_CHANGES]!;
  const readChanges = (...args: Array<string | number>) => command.call(redis, ...args);
  const hashes = set.collections.map((c) => c.hashKey);
  const names = set.collections.map((c) => c.collection);
  const byName = new Map(set.collections.map((c) => [c.collection, c]));

  const decode = (collection: WatchCollection, key: string, json: string | null): WatchEntry | undefined =>
    json === null ? undefined : byName.get(collection)?.decode(key, json);

  return {
    async snapshot(withLog) {
      // The first reader of a history names it; SET NX so that readers racing here agree.
      await redis.set(set.epochKey, freshEpoch(), "NX");
      const multi = redis.multi().get(set.epochKey).get(set.versionKey);
      for (const hash of hashes) multi.hgetall(hash);
      if (withLog) multi.xrange(set.logKey, "-", "+");
      const results = (await multi.exec()) ?? [];
      for (const [err] of results) if (err) throw err;
      const value = (i: number) => results[i]?.[1];
      const entries: WatchEntry[] = [];
      set.collections.forEach((c, i) => {
        for (const [key, json] of Object.entries((value(2 + i) ?? {}) as Record<string, string>)) {
          const entry = c.decode(key, json);
          if (entry !== undefined) entries.push(entry);
        }
      });
      const log = withLog ? parseLog((value(2 + hashes.length) ?? []) as Array<[string, string[]]>) : [];
      return { epoch: String(value(0) ?? ""), version: BigInt((value(1) as string | null) ?? 0), entries, log };
    },
    async changesAfter(version, max) {
      const reply = await readChanges(3 + hashes.length, set.epochKey, set.versionKey, set.logKey, ...hashes, String(version), max, ...names);
      const changes: ReadChange[] = [];
      for (let i = 2; i + 3 < reply.length; i += 4) {
        const collection = known(reply[i + 1]);
        const key = reply[i + 2] ?? "";
        const entry = collection === undefined ? undefined : decode(collection, key, reply[i + 3] ?? null);
        changes.push({ version: BigInt(reply[i] ?? 0), collection, key, entry });
      }
      return { epoch: reply[0] ?? null, version: BigInt(reply[1] ?? 0), changes };
    },
    async newEpoch() {
      await redis.set(set.epochKey, freshEpoch());
    },
  };
}

const known = (name: string | null | undefined): WatchCollection | undefined => (isWatchCollection(name ?? undefined) ? (name as WatchCollection) : undefined);

/** XRANGE's reply as logged changes. */
function parseLog(entries: Array<[string, string[]]>): LoggedChange[] {
  return entries.map(([id, fields]) => {
    let collection: string | undefined;
    let key = "";
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === "c") collection = fields[i + 1];
      else if (fields[i] === "k") key = fields[i + 1] ?? "";
    }
    return { version: BigInt(id.slice(0, id.indexOf("-"))), collection: known(collection), key };
  });
}
