import { create } from "@bufbuild/protobuf";
import { InstanceSpecSchema } from "@tei-fleet/proto/fleet/v1";
import { afterEach, describe, expect, it } from "vitest";
import { StaleLeaseError, updateNode } from "../src/nodes/node-store.ts";
import { createLease } from "../src/scheduler/lease.ts";
import { defineScripts } from "../src/store/lua-scripts.ts";
import { type SchedFixture, schedFixture } from "./sched-fixtures.ts";

let f: SchedFixture;
afterEach(async () => {
  await f?.close();
});

describe("reconciler lease", () => {
  it("is held by one control plane at a time, and a stale holder's fenced writes are refused", async () => {
    f = await schedFixture({ reconciler: false });
    defineScripts(f.redis);
    const ctx = { redis: f.redis, keys: f.keys, logger: (await import("pino")).pino({ level: "silent" }), now: Date.now };
    await f.addNode({ name: "a", gpusMb: [81920] });
    const one = createLease(ctx, "test", 300);
    const two = createLease(ctx, "test", 300);
    const first = await one.acquire();
    expect(first).toBe("1");
    expect(await two.acquire()).toBeUndefined();
    expect(await one.acquire()).toBe("1"); // renewal keeps the token

    await new Promise((r) => setTimeout(r, 400)); // `one` pauses past its lease
    const second = await two.acquire();
    expect(second).toBe("2");
    await expect(updateNode(ctx, "a", (n) => ({ ...n, cordoned: true }), { lease: "test", token: first! })).rejects.toBeInstanceOf(StaleLeaseError);
    expect((await f.scheduler.nodes.get("a")).cordoned).toBe(false);
    await updateNode(ctx, "a", (n) => ({ ...n, cordoned: true }), { lease: "test", token: second! });
    expect((await f.scheduler.nodes.get("a")).cordoned).toBe(true);
  });

  it("only one of two schedulers marks a lost node lost", async () => {
    f = await schedFixture();
    // A second control plane on the same fleet (same Redis, same prefix).
    const { createScheduler } = await import("../src/scheduler/index.ts");
    const second = createScheduler({
      redis: f.redis,
      keys: f.keys,
      logger: (await import("pino")).pino({ level: "silent" }),
      heartbeatTtlMs: 1500,
      livenessIntervalMs: 100,
      reconcileIntervalMs: 1000,
      routeGraceMs: 200,
    });
    await second.start();
    try {
      const a = await f.addNode({ name: "a", gpusMb: [81920] });
      await f.addNode({ name: "b", gpusMb: [81920] });
      a.silent = true;
      await f.until(async () => (await f.scheduler.nodes.get("a")).state === "lost");
      await new Promise((r) => setTimeout(r, 500));
      const lost = (await f.redis.xrange(f.keys.events(), "-", "+")).filter(([, x]) => x[x.indexOf("kind") + 1] === "node.lost");
      expect(lost).toHaveLength(1);
    } finally {
      await second.stop();
    }
  });
});

describe("checkSpec", () => {
  it("refuses only what can never be placed", async () => {
    f = await schedFixture();
    await f.addNode({ name: "a", gpusMb: [81920, 81920] });
    await f.putInstance({ name: "holder", node: "a", port: 25000 });
    await f.until(async () => (await f.replicas("holder"))[0]?.node === "a");
    const spec = (fields: object) => create(InstanceSpecSchema, { name: "x", modelId: "m", ...fields });
    const check = (fields: object) => f.scheduler.checkSpec(spec(fields));
    expect(await check({})).toEqual({ ok: true });
    expect(await check({ gpuCount: 17 })).toMatchObject({ ok: false, field: "gpu_count" });
    expect(await check({ node: "a", gpuId: 5 })).toEqual({ ok: false, field: "gpu_id", reason: "node a has no GPU 5 (it has 0, 1)" });
    expect(await check({ node: "a", gpuCount: 4 })).toMatchObject({ ok: false, field: "gpu_count" });
    expect(await check({ port: 80 })).toMatchObject({ ok: false, field: "port" });
    expect(await check({ node: "a", port: 25000 })).toMatchObject({
      ok: false,
      field: "port",
      reason: expect.stringContaining("already claimed on node a by holder-0-r1"),
    });
    expect(await check({ node: "a", replicas: 2, port: 26000 })).toMatchObject({ ok: false, field: "port" });
    // Might become possible: accepted, and it will be pending with a reason.
    expect(await check({ node: "not-yet-joined", gpuId: 7 })).toEqual({ ok: true });
    expect(await check({ gpuMemoryMb: 500_000n })).toEqual({ ok: true });
    expect(await check({ nodeSelector: { gpu: "b200" } })).toEqual({ ok: true });
    // The instance's own port is not a conflict with itself (an update).
    expect(await f.scheduler.checkSpec(create(InstanceSpecSchema, { name: "holder", modelId: "m", node: "a", port: 25000 }))).toEqual({ ok: true });
  });
});
