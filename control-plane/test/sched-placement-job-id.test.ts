import { randomBytes } from "node:crypto";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterEach, describe, expect, inject, it } from "vitest";
import { createPlacementQueue, PLACEMENT_QUEUE } from "../src/scheduler/placement-queue.ts";
import { createKeySchema, type KeySchema } from "../src/store/keys.ts";

// The placement queue names a lone instance's job `{name}-r{revision}`, so a new revision is a new
// job even while the old one runs. The revision must be the record's own, read the way the store
// reads it, whatever text the record's other fields hold. Real Redis, real BullMQ, no worker.

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup() {
  const redis = new Redis(inject("redisUrl"));
  const keys: KeySchema = createKeySchema(`t${randomBytes(4).toString("hex")}`);
  const placement = createPlacementQueue({ redis, keys, logger: pino({ level: "silent" }), now: Date.now });
  const inspect = new Queue(PLACEMENT_QUEUE, { connection: redis.duplicate(), prefix: keys.bullPrefix() });
  cleanups.push(async () => {
    await placement.close();
    await inspect.obliterate({ force: true });
    await inspect.close();
    redis.disconnect();
  });
  const waitingIds = async () => (await inspect.getJobs(["waiting", "delayed", "prioritized"])).map((j) => j.id).sort();
  return { redis, keys, placement, waitingIds };
}

describe("placement job ids", () => {
  it("carry the record's revision, not a 'revision' key found elsewhere in it (a node_selector label)", async () => {
    const { redis, keys, placement, waitingIds } = await setup();
    // Proto JSON writes the spec (field 1) before the revision (field 2): a selector label named
    // "revision" comes first in the text.
    const record = JSON.stringify({ spec: { name: "emb", modelId: "BAAI/bge-small-en-v1.5", nodeSelector: { revision: "7" } }, revision: "3" });
    await redis.set(keys.instance("emb"), record);
    await placement.enqueue(["emb"]);
    expect(await waitingIds()).toEqual(["emb-r3"]);
  });

  it("name a deleted instance's job 'gone' and an unreadable record's by the revision it still holds", async () => {
    const { redis, keys, placement, waitingIds } = await setup();
    await redis.set(keys.instance("broken"), JSON.stringify({ spec: { name: "broken", port: "not a port" }, revision: "5" }));
    await placement.enqueue(["broken"]);
    await placement.enqueue(["deleted"]);
    expect(await waitingIds()).toEqual(["broken-r5", "deleted-rgone"]);
  });
});
