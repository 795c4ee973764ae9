import { clone, type DescMessage, equals, type MessageShape } from "@bufbuild/protobuf";

/** The server-kept fields every catalog entry has (for a backend, on its `backend`). */
export interface Stamped {
  revision: bigint;
  createdAtMs: bigint;
  updatedAtMs: bigint;
}

/**
 * Gives a new entry its server-kept fields: the next revision after the stored one, the stored
 * creation time (now for a new entry), now as the update time.
 */
export function stamp(entry: Stamped, current: Stamped | undefined, now: number): void {
  entry.revision = (current?.revision ?? 0n) + 1n;
  entry.createdAtMs = current?.createdAtMs ?? BigInt(now);
  entry.updatedAtMs = BigInt(now);
}

/**
 * True when `next` says what `current` says, the server-kept fields aside: such a PUT changes
 * nothing, so it bumps no revision and sends routers no delta (what `teictl apply` of an
 * unchanged file relies on to be a no-op).
 */
export function sameContent<S extends DescMessage>(
  schema: S,
  next: MessageShape<S>,
  current: MessageShape<S> | undefined,
  stampOf: (m: MessageShape<S>) => Stamped | undefined,
): boolean {
  if (current === undefined) return false;
  const candidate = clone(schema, next);
  const to = stampOf(candidate);
  const from = stampOf(current);
  if (to && from) {
    to.revision = from.revision;
    to.createdAtMs = from.createdAtMs;
    to.updatedAtMs = from.updatedAtMs;
  }
  return equals(schema, candidate, current);
}
