import { toJsonString } from "@bufbuild/protobuf";
import { type Instance, InstanceSchema, type Replica } from "@tei-fleet/proto/fleet/v1";
import type { Redis } from "ioredis";
import { type Logger, pino } from "pino";
import { readInstanceRecord, readReplicaRecords } from "./instance-record.ts";
import type { KeySchema } from "./keys.ts";
import { readLuaSource } from "./lua-source.ts";
import { createRecordProblemReporter } from "./record-problems.ts";

// The scripts that read a stored revision include how they read it (stored-revision.lua).
const lua = (file: string) => readLuaSource(new URL(`./lua/${file}`, import.meta.url));
const SCRIPTS = {
  createInstance: { numberOfKeys: 3, lua: lua("create-instance-3.lua") },
  replaceInstance: { numberOfKeys: 1, lua: lua("replace-instance-1.lua") },
  deleteInstance: { numberOfKeys: 2, lua: lua("delete-instance-2.lua") },
} as const;

type ScriptReply = [string, string?];

interface ScriptCommands {
  createInstance(k1: string, k2: string, k3: string, ...argv: string[]): Promise<ScriptReply>;
  replaceInstance(k1: string, ...argv: string[]): Promise<ScriptReply>;
  deleteInstance(k1: string, k2: string, ...argv: string[]): Promise<ScriptReply>;
}

/** What an Idempotency-Key remembers: which instance its create made, and from which request. */
export interface IdempotencyRecord {
  name: string;
  /** sha256 of the validated spec, so a reused key with a different body is recognised. */
  fingerprint: string;
}

/** Outcome of {@link InstanceRepository.create}. */
export type CreateOutcome = { kind: "created" } | { kind: "exists" } | { kind: "max"; count: number } | { kind: "replay"; record: IdempotencyRecord };

/** Outcome of a revision-checked write. */
export type WriteOutcome = { kind: "ok"; revision?: bigint } | { kind: "not_found" } | { kind: "conflict"; revision: bigint };

/**
 * An instance record with the replicas the scheduler recorded for it. A record that cannot be
 * decoded is a stand-in whose status is `unreadable` (see instance-record.ts, isUnreadable).
 */
export interface StoredInstance {
  instance: Instance;
  replicas: Replica[];
}

/**
 * Desired state of instances in Redis: the `instance:{name}` records, the `instances` index and
 * idempotency keys (written here), and the `replicas:{name}` hashes (written by the scheduler,
 * read here). Every multi-key write is one Lua script (files in ./lua, KEYS/ARGV documented in
 * their headers), so two control-plane replicas on one Redis never half-apply a change.
 */
export interface InstanceRepository {
  /** Reads one instance with its replicas; undefined when it does not exist (a stand-in when unreadable). */
  get(name: string): Promise<StoredInstance | undefined>;
  /** Reads every instance with its replicas, oldest first; unreadable records as stand-ins. */
  list(): Promise<StoredInstance[]>;
  /** Counts instances. */
  count(): Promise<number>;
  /** Reads what an Idempotency-Key recorded, if anything. */
  getIdempotency(key: string): Promise<IdempotencyRecord | undefined>;
  /** Creates an instance atomically (see create-instance-4.lua). */
  create(instance: Instance, opts: { maxInstances: number; idempotency?: { key: string; record: IdempotencyRecord; ttlMs: number } }): Promise<CreateOutcome>;
  /** Replaces an instance record if it is still at `readRevision`. */
  replace(instance: Instance, readRevision: bigint): Promise<WriteOutcome>;
  /** Deletes an instance record (at `expectedRevision` when given). */
  delete(name: string, expectedRevision?: bigint): Promise<WriteOutcome>;
}

/**
 * Creates the repository over a Redis connection and the key schema; records it cannot decode
 * are reported through the event stream and `logger` (record-problems.ts; tests may leave the
 * logger out, events are appended all the same).
 */
export function createInstanceRepository(redis: Redis, keys: KeySchema, logger: Logger = pino({ level: "silent" })): InstanceRepository {
  for (const [name, def] of Object.entries(SCRIPTS)) {
    if (!(name in redis)) redis.defineCommand(name, def);
  }
  const scripts = redis as unknown as ScriptCommands;
  const report = createRecordProblemReporter(redis, keys, logger);

  const readMany = async (names: string[]): Promise<StoredInstance[]> => {
    if (names.length === 0) return [];
    const pipe = redis.pipeline();
    for (const name of names) pipe.get(keys.instance(name)).hgetall(keys.replicas(name));
    const results = (await pipe.exec()) ?? [];
    const out: StoredInstance[] = [];
    for (let i = 0; i < names.length; i++) {
      const [recErr, rec] = results[2 * i] ?? [];
      const [repErr, reps] = results[2 * i + 1] ?? [];
      if (recErr) throw recErr;
      if (repErr) throw repErr;
      // A name in the index whose record is gone was deleted between ZRANGE and GET.
      if (typeof rec !== "string") continue;
      const name = names[i]!;
      out.push({ instance: readInstanceRecord(name, rec, report), replicas: readReplicaRecords(name, (reps ?? {}) as Record<string, string>, report) });
    }
    return out;
  };

  return {
    async get(name) {
      const [found] = await readMany([name]);
      return found;
    },
    async list() {
      return readMany(await redis.zrange(keys.instances(), 0, -1));
    },
    count: () => redis.zcard(keys.instances()),
    async getIdempotency(key) {
      const raw = await redis.get(keys.idempotency(key));
      return raw === null ? undefined : (JSON.parse(raw) as IdempotencyRecord);
    },
    async create(instance, opts) {
      const name = instance.spec?.name ?? "";
      const idem = opts.idempotency;
      const [kind, value] = await scripts.createInstance(
        keys.instance(name),
        keys.instances(),
        keys.idempotency(idem?.key ?? ""),
        name,
        toJsonString(InstanceSchema, instance),
        String(instance.createdAtMs),
        String(opts.maxInstances),
        idem ? JSON.stringify(idem.record) : "",
        String(idem?.ttlMs ?? 0),
        keys.changesChannel(),
      );
      if (kind === "created") return { kind };
      if (kind === "exists") return { kind };
      if (kind === "max") return { kind, count: Number(value) };
      return { kind: "replay", record: JSON.parse(value ?? "{}") as IdempotencyRecord };
    },
    async replace(instance, readRevision) {
      const [kind, value] = await scripts.replaceInstance(
        keys.instance(instance.spec?.name ?? ""),
        String(readRevision),
        toJsonString(InstanceSchema, instance),
      );
      return toWriteOutcome(kind, value);
    },
    async delete(name, expectedRevision) {
      const [kind, value] = await scripts.deleteInstance(
        keys.instance(name),
        keys.instances(),
        name,
        expectedRevision === undefined ? "" : String(expectedRevision),
        keys.changesChannel(),
      );
      return toWriteOutcome(kind, value);
    },
  };
}

function toWriteOutcome(kind: string, value: string | undefined): WriteOutcome {
  if (kind === "ok") return value === undefined ? { kind } : { kind, revision: BigInt(value) };
  if (kind === "not_found") return { kind };
  return { kind: "conflict", revision: BigInt(value ?? "0") };
}
