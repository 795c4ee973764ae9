import { create } from "@bufbuild/protobuf";
import { InstanceSchema, type RouteTable } from "@tei-fleet/proto/fleet/v1";
import { afterEach, expect, it } from "vitest";
import { createInstanceRepository, type InstanceRepository } from "../src/store/instance-repository.ts";
import { type SchedFixture, schedFixture } from "./sched-fixtures.ts";

// The route table lists instances that exist but have no ready replica, so a router can answer
// UNAVAILABLE for them and NOT_FOUND only for names it has never heard of (issue 6, "Errors").
const MODEL = "BAAI/bge-small-en-v1.5";
let f: SchedFixture;
let repo: InstanceRepository;
afterEach(async () => {
  await f?.close();
});

async function createInstance(name: string, gpuMemoryMb?: bigint) {
  const instance = create(InstanceSchema, {
    spec: { name, modelId: MODEL, gpuMemoryMb },
    revision: 1n,
    createdAtMs: BigInt(Date.now()),
  });
  expect(await repo.create(instance, { maxInstances: 0 })).toEqual({ kind: "created" });
  await f.scheduler.enqueue(name);
}

const table = () => f.scheduler.routes.get();
const unready = (t: RouteTable) => t.unready.map((u) => ({ name: u.instanceName, model: u.modelId, reason: u.reason }));

it("lists a created instance as unready until it runs, and drops it once deleted, bumping the version each time", async () => {
  f = await schedFixture();
  repo = createInstanceRepository(f.redis, f.keys);
  const v0 = (await table()).version;

  await createInstance("emb");
  const created = await table();
  // The create itself bumps the version: a watching router learns of the instance before placement.
  expect(created.version).toBeGreaterThan(v0);
  expect(created.routes).toEqual([]);
  expect(unready(created)).toEqual([{ name: "emb", model: MODEL, reason: expect.stringMatching(/^pending/) }]);

  // A node joins: the replica is placed, starts (still unready), then runs and has a route.
  await f.addNode({ name: "a", gpusMb: [81920] });
  // Every table seen on the way lists it either as unready with a reason or as routed, never
  // both and never neither (the "starting" state is short and is not required to be observed).
  const reasons = new Set<string>();
  const ready = await f.until(async () => {
    const t = await table();
    expect(t.routes.length + t.unready.length).toBe(1);
    if (t.unready[0]) reasons.add(t.unready[0].reason.split(":")[0]!);
    return t.routes.length === 1 && t;
  });
  expect([...reasons].every((r) => r === "pending" || r === "starting")).toBe(true);
  expect(ready.unready).toEqual([]);

  // Deleted: first its route goes, then it is neither ready nor unready.
  await repo.delete("emb");
  await f.scheduler.enqueue("emb");
  const gone = await f.until(async () => {
    const t = await table();
    return t.routes.length === 0 && t;
  });
  expect(gone.unready).toEqual([]);
});

it("deleting an instance that never ran bumps the version and removes it from the unready list", async () => {
  f = await schedFixture();
  repo = createInstanceRepository(f.redis, f.keys);
  await f.addNode({ name: "small", gpusMb: [8192] });
  await createInstance("big", 20_000n);
  const pending = await f.until(async () => {
    const t = await table();
    return t.unready[0]?.reason.includes("insufficient GPU memory") && t;
  });
  expect(unready(pending)).toEqual([{ name: "big", model: MODEL, reason: "pending: insufficient GPU memory on 0/1 eligible nodes" }]);

  // A watcher is told at once: the delete nudges it with a new version.
  const abort = new AbortController();
  const stream = f.scheduler.routes.watch(pending.version, abort.signal);
  const first = stream.next(); // the watch may open with the table as it is now
  await repo.delete("big");
  let after = (await first).value as RouteTable;
  while (after.unready.length > 0) after = (await stream.next()).value as RouteTable;
  abort.abort();
  expect(after.version).toBeGreaterThan(pending.version);
  expect(after.unready).toEqual([]);
});

it("a stopped instance is listed as stopped", async () => {
  f = await schedFixture();
  repo = createInstanceRepository(f.redis, f.keys);
  const instance = create(InstanceSchema, {
    spec: { name: "off", modelId: MODEL, desiredState: "stopped" },
    revision: 1n,
    createdAtMs: BigInt(Date.now()),
  });
  await repo.create(instance, { maxInstances: 0 });
  expect(unready(await table())).toEqual([{ name: "off", model: MODEL, reason: "stopped" }]);
});
