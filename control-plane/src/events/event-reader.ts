import type { Redis } from "ioredis";
import { ApiError } from "../errors/api-error.ts";
import type { EventKind } from "../store/event-log.ts";
import type { KeySchema } from "../store/keys.ts";

/** An event as read back from the stream. */
export interface FleetEvent {
  /** Stream entry id: the cursor. */
  id: string;
  timeMs: number;
  kind: EventKind | string;
  instance: string;
  node: string;
  message: string;
}

/** A page of events and the cursor to continue after it. */
export interface EventPage {
  events: FleetEvent[];
  nextCursor: string;
}

const STREAM_ID = /^(\d+)(?:-(\d+))?$/;
/** Both halves of a Redis stream id are unsigned 64-bit integers. */
const U64_MAX = 2n ** 64n - 1n;
/** The largest stream id: nothing can follow it, and Redis refuses it as an exclusive start. */
const LAST_ID = `${U64_MAX}-${U64_MAX}`;

/**
 * Checks a cursor given by a client and returns it in canonical form ("" means "from the oldest
 * kept event"): `ms` or `ms-seq`, each an unsigned 64-bit integer. Checked here rather than left
 * to Redis, which answers a malformed id with an error that would otherwise surface as a 500.
 */
export function validateCursor(cursor: string, field: string): string {
  if (cursor === "") return "";
  const match = STREAM_ID.exec(cursor);
  const ms = match ? BigInt(match[1]!) : undefined;
  const seq = match?.[2] === undefined ? undefined : BigInt(match[2]);
  if (ms === undefined || ms > U64_MAX || (seq ?? 0n) > U64_MAX) {
    throw new ApiError(
      "VALIDATION_ERROR",
      `${field} must be an event id such as 1700000000000-0 (two unsigned 64-bit integers; got '${cursor.slice(0, 48)}')`,
      { field },
    );
  }
  return seq === undefined ? String(ms) : `${ms}-${seq}`;
}

/** Decodes one XRANGE/XREAD entry. */
export function decodeEvent(id: string, fields: string[]): FleetEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  return { id, timeMs: Number(f.time_ms ?? 0), kind: f.kind ?? "", instance: f.instance ?? "", node: f.node ?? "", message: f.message ?? "" };
}

/** Orders two stream ids. */
export function compareIds(a: string, b: string): number {
  const [am = "0", as = "0"] = a.split("-");
  const [bm = "0", bs = "0"] = b.split("-");
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

/**
 * Reads up to `limit` events after the cursor (exclusive), oldest first. When the cursor is older
 * than the oldest kept event (the stream is bounded), reading simply starts at the oldest one.
 * `field` names the cursor in the error a malformed one gets (`after`, `after_event_id`).
 */
export async function readEvents(redis: Redis, keys: KeySchema, after: string, limit: number, field = "after"): Promise<EventPage> {
  const cursor = validateCursor(after, field);
  if (cursor === LAST_ID) return { events: [], nextCursor: after };
  const start = cursor === "" ? "-" : `(${cursor}`;
  const entries = (await redis.xrange(keys.events(), start, "+", "COUNT", limit)) as [string, string[]][];
  const events = entries.map(([id, fields]) => decodeEvent(id, fields));
  return { events, nextCursor: events.at(-1)?.id ?? after };
}

/** The REST rendering of an event. */
export function eventJson(e: FleetEvent): Record<string, unknown> {
  return {
    id: e.id,
    time: new Date(e.timeMs).toISOString(),
    time_ms: e.timeMs,
    kind: e.kind,
    instance: e.instance || null,
    node: e.node || null,
    message: e.message,
  };
}
