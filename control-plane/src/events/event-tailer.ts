import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { ApiError } from "../errors/api-error.ts";
import type { KeySchema } from "../store/keys.ts";
import { compareIds, decodeEvent, type FleetEvent, readEvents, validateCursor } from "./event-reader.ts";

/** Options of {@link createEventTailer}. */
export interface EventTailerOptions {
  /** A connection to duplicate: the tailer blocks in XREAD on its own connection. */
  redis: Redis;
  keys: KeySchema;
  logger: Logger;
  /** XREAD BLOCK timeout, ms; also how long an idle tailer lingers after its last watcher. Default 5000. */
  blockMs?: number;
  /** Events buffered per watcher before it is cut off as too slow. Default 10 000. */
  maxBuffered?: number;
}

/**
 * Follows the `events` stream for every `Watch` of this process with ONE blocking connection
 * (XREAD BLOCK), fanning entries out to the watchers, instead of one Redis connection per watcher.
 * A watcher that resumes from a cursor first catches up with XRANGE, then continues with the live
 * feed; ids are compared so nothing is sent twice and nothing between the two is lost. The tailer
 * holds no state that matters: a watcher on another control-plane replica sees the same events.
 */
export interface EventTailer {
  /** Events after `after` (exclusive; "" = from now on) until `signal` aborts. */
  watch(after: string, signal: AbortSignal): AsyncIterable<FleetEvent>;
  /** Stops the blocking reader and ends every watch. */
  close(): Promise<void>;
}

interface Subscriber {
  queue: FleetEvent[];
  overflowed: boolean;
  wake?: () => void;
}

/** Creates the tailer; it connects lazily, on the first watch. */
export function createEventTailer(options: EventTailerOptions): EventTailer {
  const { redis, keys, logger } = options;
  const blockMs = options.blockMs ?? 5000;
  const maxBuffered = options.maxBuffered ?? 10_000;
  const subscribers = new Set<Subscriber>();
  let conn: Redis | undefined;
  let ready: Promise<void> | undefined;
  let closed = false;

  const deliver = (event: FleetEvent) => {
    for (const sub of subscribers) {
      if (sub.queue.length >= maxBuffered) sub.overflowed = true;
      else sub.queue.push(event);
      sub.wake?.();
    }
  };

  const loop = async (c: Redis, startId: string) => {
    let lastId = startId;
    while (!closed && subscribers.size > 0) {
      try {
        const res = (await c.xread("COUNT", 1000, "BLOCK", blockMs, "STREAMS", keys.events(), lastId)) as [string, [string, string[]][]][] | null;
        for (const [, entries] of res ?? []) {
          for (const [id, fields] of entries) {
            lastId = id;
            deliver(decodeEvent(id, fields));
          }
        }
      } catch (err) {
        if (closed) break;
        logger.warn({ err }, "event tailer: XREAD failed; retrying");
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    c.disconnect();
    conn = undefined;
    ready = undefined;
    // A watcher may have subscribed while this loop was on its way out.
    if (!closed && subscribers.size > 0) void ensureRunning();
  };

  /** Starts the reader; resolves once its start position is fixed (so catch-ups cannot miss). */
  const ensureRunning = (): Promise<void> => {
    ready ??= (async () => {
      const c = redis.duplicate();
      c.on("error", (err) => logger.warn({ err: err.message }, "event tailer: redis connection error"));
      conn = c;
      try {
        const last = (await c.xrevrange(keys.events(), "+", "-", "COUNT", 1)) as [string, string[]][];
        void loop(c, last[0]?.[0] ?? "0-0");
      } catch (err) {
        // Let the next watcher try again instead of failing forever on a stale promise.
        c.disconnect();
        conn = undefined;
        ready = undefined;
        throw err;
      }
    })();
    return ready;
  };

  return {
    async *watch(after, signal) {
      const cursor = validateCursor(after, "after_event_id");
      const sub: Subscriber = { queue: [], overflowed: false };
      subscribers.add(sub);
      const onAbort = () => sub.wake?.();
      signal.addEventListener("abort", onAbort);
      try {
        await ensureRunning();
        let last = cursor;
        if (cursor !== "") {
          for (;;) {
            const page = await readEvents(redis, keys, last, 500, "after_event_id");
            for (const e of page.events) {
              yield e;
              last = e.id;
            }
            if (page.events.length < 500) break;
          }
        }
        while (!signal.aborted && !closed) {
          if (sub.overflowed) {
            throw new ApiError("BACKEND_UNAVAILABLE", `watch fell more than ${maxBuffered} events behind; resume with after_event_id=${last}`);
          }
          const batch = sub.queue.splice(0);
          if (batch.length === 0) {
            await new Promise<void>((resolve) => {
              sub.wake = resolve;
            });
            sub.wake = undefined;
            continue;
          }
          for (const e of batch) {
            if (last !== "" && compareIds(e.id, last) <= 0) continue;
            yield e;
            last = e.id;
          }
        }
      } finally {
        signal.removeEventListener("abort", onAbort);
        subscribers.delete(sub);
      }
    },
    async close() {
      closed = true;
      for (const sub of subscribers) sub.wake?.();
      conn?.disconnect();
    },
  };
}
