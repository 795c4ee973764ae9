import type { Redis } from "ioredis";
import type { KeySchema } from "./keys.ts";

/** Kinds of fleet events. Instance kinds first, then node kinds. */
export type EventKind =
  | "instance.created"
  | "instance.updated"
  | "instance.placed"
  | "instance.pending"
  | "instance.started"
  | "instance.ready"
  | "instance.unhealthy"
  | "instance.restarted"
  | "instance.failed"
  | "instance.crash_loop"
  | "instance.stopped"
  | "instance.deleted"
  | "instance.rescheduled"
  | "instance.reschedule_blocked"
  | "instance.unreadable"
  | "instance.malformed"
  | "node.joined"
  | "node.lost"
  | "node.returned"
  | "node.cordoned"
  | "node.uncordoned"
  | "node.draining"
  | "node.drained"
  | "node.left"
  | "node.deleted";

/** One event as appended: what happened, to which instance and/or node, in a sentence. */
export interface FleetEventInput {
  kind: EventKind;
  instance?: string;
  node?: string;
  message?: string;
}

/** How many events the stream keeps (approximately: MAXLEN ~). */
export const EVENT_STREAM_MAXLEN = 10_000;

/**
 * Appends an event to the bounded `events` stream and nudges watchers on the changes channel.
 * Returns the stream id, which doubles as a cursor for `GET /events?after=` and `Watch`.
 * Accepts a pipeline/multi too, so that an event can be written atomically with the change it
 * describes.
 */
export async function appendEvent(redis: Redis, keys: KeySchema, event: FleetEventInput): Promise<string> {
  const id = await redis.xadd(
    keys.events(),
    "MAXLEN",
    "~",
    String(EVENT_STREAM_MAXLEN),
    "*",
    "time_ms",
    String(Date.now()),
    "kind",
    event.kind,
    "instance",
    event.instance ?? "",
    "node",
    event.node ?? "",
    "message",
    event.message ?? "",
  );
  await redis.publish(keys.changesChannel(), "event");
  return id as string;
}
