import { create } from "@bufbuild/protobuf";
import { type Instance, InstanceSchema, InstanceSpecSchema, InstanceStatus, type Replica, ReplicaSchema } from "@tei-fleet/proto/fleet/v1";
import { decodeRecord } from "./record-codec.ts";
import type { RecordProblemReporter } from "./record-problems.ts";

/**
 * The status of an instance whose stored record cannot be decoded. Such an instance is still
 * listed (it exists: its name is in the index, it may have replicas running), with this status
 * and the decoding error as its reason, so one bad record never takes a listing, the route table
 * or the reconcile loop down with it; DELETE removes it like any other.
 */
export const UNREADABLE = InstanceStatus.UNREADABLE;

/** True for the stand-in of a record that cannot be decoded (see {@link readInstanceRecord}). */
export function isUnreadable(instance: Instance): boolean {
  return instance.status === UNREADABLE;
}

/**
 * Reads the `instance:{name}` record of `name`. A record that needed repair (lone surrogates,
 * which older control planes stored) is the repaired instance; one that cannot be decoded at all
 * is a stand-in: the name, status {@link UNREADABLE}, the error as reason and, when the record is
 * JSON at all, its revision and creation time (the revision is the one the store's Lua scripts
 * read, so If-Match agrees with them). Either is reported once (record-problems.ts).
 */
export function readInstanceRecord(name: string, record: string, report: RecordProblemReporter): Instance {
  const decoded = decodeRecord(InstanceSchema, record);
  if (decoded.kind === "ok") return decoded.message;
  if (decoded.kind === "repaired") {
    report(name, record, { kind: "repaired", fields: decoded.fields });
    return decoded.message;
  }
  report(name, record, { kind: "unreadable", error: decoded.error });
  const salvaged = salvage(decoded.json);
  return create(InstanceSchema, {
    spec: create(InstanceSpecSchema, { name }),
    revision: salvaged.revision,
    createdAtMs: salvaged.createdAtMs,
    status: UNREADABLE,
    reason: `the stored record cannot be decoded (${decoded.error}); DELETE /instances/${name} (without If-Match) removes it`,
  });
}

/**
 * The revision of an `instance:{name}` record, read as {@link readInstanceRecord} reads it (the
 * decoded message's, or for a record that cannot be decoded, the one it still holds; 0 when it
 * holds none), without reporting anything: for callers that need only the revision, such as the
 * placement queue's job ids. Never a text search of the record, whose other fields (a selector
 * label, a model id) may contain anything.
 */
export function readInstanceRevision(record: string): bigint {
  const decoded = decodeRecord(InstanceSchema, record);
  return decoded.kind === "unreadable" ? salvage(decoded.json).revision : decoded.message.revision;
}

/** What can still be read of a record that does not decode: its top-level revision and creation time. */
function salvage(json: unknown): { revision: bigint; createdAtMs: bigint } {
  const fields = (typeof json === "object" && json !== null ? json : {}) as { revision?: unknown; createdAtMs?: unknown };
  return { revision: integer(fields.revision), createdAtMs: integer(fields.createdAtMs) };
}

/**
 * Reads the replica records of an instance (`replicas:{name}`), lowest index first and, within
 * an index, newest revision first. Records are written by the scheduler from validated messages;
 * one that cannot be decoded anyway is left out of what is shown (and reported), never fatal.
 */
export function readReplicaRecords(name: string, hash: Record<string, string>, report: RecordProblemReporter): Replica[] {
  const out: Replica[] = [];
  for (const [id, json] of Object.entries(hash)) {
    const decoded = decodeRecord(ReplicaSchema, json);
    if (decoded.kind === "unreadable") report(name, json, { kind: "replica-unreadable", id, error: decoded.error });
    else out.push(decoded.message);
  }
  return out.sort((a, b) => a.index - b.index || Number(b.revision - a.revision));
}

/** A stored int64 (proto JSON writes it as a decimal string) or 0 when it is anything else. */
function integer(value: unknown): bigint {
  if (typeof value === "string" && /^\d{1,19}$/.test(value)) return BigInt(value);
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  return 0n;
}
