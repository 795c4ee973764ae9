import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { InstanceSchema, ReplicaSchema, type RouteTable } from "@tei-fleet/proto/fleet/v1";
import { pino } from "pino";
import { afterEach, expect, it } from "vitest";
import { createScheduler } from "../src/scheduler/index.ts";
import { createInstanceRepository } from "../src/store/instance-repository.ts";
import { FAST, type SchedFixture, schedFixture } from "./sched-fixtures.ts";

// The route table's version must move with everything a router gets from it, including the
// reasons of unready instances, and only then: routers take a table with a newer version, and
// the watch keepalive (15 s by default) must not be what carries a changed reason.
const MODEL = "BAAI/bge-small-en-v1.5";
let f: SchedFixture;
let abort: AbortController | undefined;
afterEach(async () => {
  abort?.abort();
  await f?.close();
});

const reasonOf = (t: RouteTable, name: string) => t.unready.find((u) => u.instanceName === name)?.reason;

/** Opens a watch from `known` and returns a function that waits (at most `ms`) for a table matching `check`. */
function watchFrom(known: bigint) {
  abort = new AbortController();
  const stream = f.scheduler.routes.watch(known, abort.signal);
  return async (check: (t: RouteTable) => boolean, ms: number): Promise<{ table: RouteTable; afterMs: number }> => {
    const started = Date.now();
    const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no matching table within ${ms} ms`)), ms).unref());
    for (;;) {
      const next = await Promise.race([stream.next(), deadline]);
      if (next.done) throw new Error("watch ended");
      if (check(next.value)) return { table: next.value, afterMs: Date.now() - started };
    }
  };
}

it("a status-only change of an unready instance (starting -> crash_loop) takes a new version and reaches a watcher promptly", async () => {
  f = await schedFixture();
  const repo = createInstanceRepository(f.redis, f.keys);
  await repo.create(create(InstanceSchema, { spec: { name: "emb", modelId: MODEL }, revision: 1n, createdAtMs: BigInt(Date.now()) }), { maxInstances: 0 });
  await f.scheduler.enqueue("emb");
  const agent = await f.addNode({ name: "a", gpusMb: [81920] });
  // Keep it starting: the simulated agent would report it running on its second heartbeat.
  const starting = await f.until(async () => {
    const id = [...agent.assignments.keys()][0];
    if (id) agent.overrides.set(id, "starting");
    const t = await f.scheduler.routes.get();
    return reasonOf(t, "emb") === "starting" && t;
  });
  // Nothing changed: reading again keeps the version.
  expect((await f.scheduler.routes.get()).version).toBe(starting.version);

  const next = watchFrom(starting.version);
  // The stream opens with the current table; the change must come as a later one.
  expect(reasonOf((await next(() => true, 3_000)).table, "emb")).toBe("starting");
  const id = [...agent.assignments.keys()][0]!;
  agent.overrides.set(id, "crash_loop");
  await agent.heartbeat();
  const { table, afterMs } = await next((t) => reasonOf(t, "emb") !== "starting", 3_000);
  expect(reasonOf(table, "emb")).toBe("crash_loop");
  expect(table.version).toBeGreaterThan(starting.version);
  expect(afterMs).toBeLessThan(3_000);
  // Heartbeats that change nothing (and the content checks running meanwhile) keep the version.
  for (let i = 0; i < 4; i++) {
    await agent.heartbeat();
    await new Promise((r) => setTimeout(r, 400));
  }
  expect((await f.scheduler.routes.get()).version).toBe(table.version);
});

it("a reason written without any nudge (a pending reason) reaches a watcher within about a second", async () => {
  // No placement worker or reconciler: this test writes the pending replica record itself, the
  // way the worker's put-unplaced does (no routes-version bump, no message on the changes channel).
  f = await schedFixture({ worker: false, reconciler: false });
  await f.putInstance({ name: "big", gpuMemoryMb: 20_000n });
  const writePending = (reason: string) =>
    f.redis.hset(
      f.keys.replicas("big"),
      "big-0-r1",
      toJsonString(ReplicaSchema, create(ReplicaSchema, { assignmentId: "big-0-r1", revision: 1n, status: "pending", reason })),
    );
  await writePending("insufficient GPU memory on 0/1 eligible nodes");
  const pending = await f.scheduler.routes.get();
  expect(reasonOf(pending, "big")).toBe("pending: insufficient GPU memory on 0/1 eligible nodes");
  expect((await f.scheduler.routes.get()).version).toBe(pending.version);

  const next = watchFrom(pending.version);
  expect((await next(() => true, 3_000)).table.version).toBe(pending.version);
  await writePending("no node matches node_selector zone=eu-1");
  const { table } = await next((t) => reasonOf(t, "big") !== reasonOf(pending, "big"), 3_000);
  expect(reasonOf(table, "big")).toBe("pending: no node matches node_selector zone=eu-1");
  expect(table.version).toBe(pending.version + 1n);
});

it("two control-plane processes serve the same content under the same version, and bump it once for a change", async () => {
  f = await schedFixture();
  await f.putInstance({ name: "off", desiredState: "stopped" });
  // Another control-plane replica on the same Redis, serving routes only.
  const other = createScheduler({ redis: f.redis, keys: f.keys, logger: pino({ level: "silent" }), ...FAST, worker: false, reconciler: false });
  try {
    const first = await f.scheduler.routes.get();
    expect(reasonOf(first, "off")).toBe("stopped");
    expect((await other.routes.get()).version).toBe(first.version);

    // The model changes in the instance record alone (no route changes, nothing bumps routes-version).
    const record = fromJsonString(InstanceSchema, (await f.redis.get(f.keys.instance("off")))!);
    await f.redis.set(
      f.keys.instance("off"),
      toJsonString(InstanceSchema, create(InstanceSchema, { ...record, spec: { ...record.spec!, modelId: "other/model" } })),
    );
    const changed = await other.routes.get();
    expect(changed.unready[0]?.modelId).toBe("other/model");
    expect(changed.version).toBe(first.version + 1n);
    for (const t of [await f.scheduler.routes.get(), await other.routes.get(), await f.scheduler.routes.get()]) {
      expect(t.version).toBe(changed.version);
    }
  } finally {
    await other.stop();
  }
});
