import { randomBytes } from "node:crypto";
import { create, toJsonString } from "@bufbuild/protobuf";
import { WatchMirror } from "@tei-fleet/core/watch";
import { UnreadyInstanceSchema, type WatchEvent } from "@tei-fleet/proto/fleet/v1";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { routeDecoders, routeWatchedSet } from "../src/routes/route-watch-set.ts";
import { createKeySchema } from "../src/store/keys.ts";
import { createWatchCache, type WatchCache } from "../src/watch/watch-cache.ts";
import { streamWatch } from "../src/watch/watch-stream.ts";

// A watch serves from a cache that follows the change log on nudges (pub/sub, at most once) and
// polls. A watcher that starts right after a write, before any nudge or poll has brought it to
// the cache, must still find it: a client that writes and then watches sees its own write.
let redis: Redis;
let cache: WatchCache;
const keys = createKeySchema(`watch-stream-${randomBytes(4).toString("hex")}`);
const set = routeWatchedSet(
  keys,
  routeDecoders(() => {}),
);
beforeAll(() => {
  redis = new Redis(inject("redisUrl"), { maxRetriesPerRequest: 3 });
  // Every nudge lost and no poll for a minute: only a read the watch asks for brings a change.
  cache = createWatchCache({ redis, set, nudges: () => () => {}, pollMs: 60_000, logger: pino({ level: "silent" }) });
});
afterAll(async () => {
  await cache.close();
  await redis.quit();
});

/** Writes an unready entry as the route table's scripts do: the hash, the next version, its log record. */
async function writeUnready(name: string, reason: string): Promise<void> {
  const version = await redis.incr(set.versionKey);
  await redis
    .multi()
    .hset(keys.routesUnready(), name, toJsonString(UnreadyInstanceSchema, create(UnreadyInstanceSchema, { instanceName: name, reason })))
    .xadd(set.logKey, `${version}-0`, "c", "unreadyInstance", "k", name)
    .exec();
}

/** The first event of a watch from `position`, and the watch stopped after it. */
async function firstEvent(position?: { epoch: string; version: bigint }): Promise<WatchEvent> {
  const abort = new AbortController();
  const stream = streamWatch(cache, position, abort.signal, 15_000);
  const first = await stream.next();
  abort.abort();
  await stream.return(undefined);
  if (first.done) throw new Error("watch ended");
  return first.value;
}

it("a watch that starts after a write sees it, with every nudge lost and no poll due", async () => {
  await writeUnready("emb", "pending");
  const mirror = new WatchMirror();
  mirror.apply(await firstEvent());
  expect(mirror.get("unreadyInstance", "emb")?.reason).toBe("pending");

  // The cache lingers, following, after its last watcher left; a write now is not in it yet.
  await writeUnready("big", "insufficient GPU memory");
  const fresh = new WatchMirror();
  fresh.apply(await firstEvent());
  expect(fresh.get("unreadyInstance", "big")?.reason).toBe("insufficient GPU memory");

  await writeUnready("emb", "crash_loop");
  const resumed = await firstEvent(mirror.position());
  expect(resumed.kind.case).toBe("delta");
  mirror.apply(resumed);
  expect(mirror.get("unreadyInstance", "emb")?.reason).toBe("crash_loop");
  expect(mirror.get("unreadyInstance", "big")).toBeDefined();
});
