import { ApiError } from "../errors/api-error.ts";
import type { EntryWrite, WriteOutcome } from "./catalog-store.ts";

/** What {@link writeEntry} needs of a store: a catalog collection's (catalog-store.ts), or the API keys' (keys/key-store.ts). */
export interface EntryStore<T> {
  get(key: string): Promise<T | undefined>;
  revisionOf(entry: T): bigint;
  write(write: EntryWrite<T>): Promise<WriteOutcome>;
}

/**
 * What a write of one entry requires of the stored entry: nothing, a REST If-Match (the entry's
 * ETag is its revision, quoted), or a Connect `expected_revision` (0: it must not exist).
 */
export type WriteCondition = undefined | { kind: "if-match"; header: string; values: string[] } | { kind: "revision"; revision: bigint };

/** What a write should do, decided on the entry as read. */
export type WritePlan<T> =
  | { kind: "write"; entry: T | undefined; guard?: string; event: { kind: string; message: string } }
  /** Nothing to change (a PUT of what is stored): no revision, no delta, no event. */
  | { kind: "unchanged"; entry: T | undefined };

/** What a write did. */
export interface WriteResult<T> {
  /** The entry as stored now (undefined after a delete). */
  entry: T | undefined;
  /** True when the entry did not exist before. */
  created: boolean;
}

/** Attempts before a write that keeps meeting concurrent writes gives up (503, retry). */
const ATTEMPTS = 8;

/** The refusal of a condition the entry does not meet: 412 for If-Match (REST), 409 ABORTED for expected_revision (Connect). */
function conditionFailed(condition: NonNullable<WriteCondition>, what: string, current: bigint | undefined, meanwhile: boolean): ApiError {
  const now = meanwhile ? "which changed meanwhile" : current === undefined ? "which does not exist" : `whose ETag is "${current}"`;
  if (condition.kind === "if-match") {
    return new ApiError("PRECONDITION_FAILED", `If-Match ${condition.header.slice(0, 80)} does not match ${what}, ${now}; read it again and retry`, {
      field: "If-Match",
    });
  }
  const at = current === undefined ? "does not exist" : `is at revision ${current}`;
  return new ApiError(
    "REVISION_MISMATCH",
    `${what} ${meanwhile ? "changed meanwhile" : at}, not at expected_revision ${condition.revision}; read it again and retry`,
    {
      field: "expected_revision",
    },
  );
}

/** True when the stored entry (its revision, undefined when absent) meets the condition. */
function meets(condition: NonNullable<WriteCondition>, current: bigint | undefined): boolean {
  if (condition.kind === "revision") return (current ?? 0n) === condition.revision;
  return current !== undefined && condition.values.includes(String(current));
}

/**
 * Writes one entry under its condition, optimistically: read it, check the condition, let `plan`
 * decide the new entry from it (validation included: what it throws is the answer), and write it
 * only if it is still at the revision read (catalog-write.lua). A concurrent write in between
 * fails a conditional write (the caller's base is gone) and makes an unconditional one start
 * again, so no write is ever lost or applied over one it did not see.
 */
export async function writeEntry<T>(
  store: EntryStore<T>,
  key: string,
  what: string,
  condition: WriteCondition,
  plan: (current: T | undefined) => Promise<WritePlan<T>> | WritePlan<T>,
): Promise<WriteResult<T>> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const current = await store.get(key);
    const revision = current === undefined ? undefined : store.revisionOf(current);
    if (condition !== undefined && !meets(condition, revision)) {
      // A write that needs the entry answers 404 for a missing one, condition or not (RFC 9110
      // §13.2.1 evaluates preconditions only where the request would otherwise succeed): the
      // plan says so by throwing; a create under If-Match is 412, as the RFC has it.
      if (revision === undefined) await plan(undefined);
      throw conditionFailed(condition, what, revision, false);
    }
    const decided = await plan(current);
    if (decided.kind === "unchanged") return { entry: decided.entry, created: false };
    const outcome = await store.write({ key, entry: decided.entry, basedOn: revision ?? 0n, guard: decided.guard, event: decided.event });
    if (outcome.kind === "ok") return { entry: decided.entry, created: current === undefined };
    if (outcome.kind === "absent") return { entry: undefined, created: false };
    if (outcome.kind === "conflict" && condition !== undefined) throw conditionFailed(condition, what, outcome.current, true);
  }
  throw new ApiError("BACKEND_UNAVAILABLE", `${what} is being changed by other writes at the same time; retry`);
}
