import type { Redis } from "ioredis";
import { ApiError } from "../errors/api-error.ts";
import type { KeySchema } from "../store/keys.ts";
import type { EventKind } from "./event-log.ts";

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

const STREAM_ID = /^\d{1,20}(-\d{1,20})?$/;

/** Checks a cursor given by a client; "" means "from the oldest kept event". */
export function validateCursor(cursor: string, field: string): void {
  if (cursor !== "" && !STREAM_ID.test(cursor)) {
    throw new ApiError("VALIDATION_ERROR", `${field} must be an event id such as 1700000000000-0 (got '${cursor.slice(0, 40)}')`, { field });
  }
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
 */
export async function readEvents(redis: Redis, keys: KeySchema, after: string, limit: number): Promise<EventPage> {
  validateCursor(after, "after");
  const start = after === "" ? "-" : `(${after}`;
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
