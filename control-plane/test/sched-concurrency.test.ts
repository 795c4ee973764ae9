import { type ChildProcess, fork } from "node:child_process";
import { afterEach, describe, expect, inject, it } from "vitest";
import { auditFleet } from "../bench/fleet-audit.ts";
import { type SchedFixture, schedFixture } from "./sched-fixtures.ts";

let f: SchedFixture | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once("exit", r));
    child.send("stop");
    await exited;
  }
  child = undefined;
  await f?.close();
});

describe("two control planes placing at once", () => {
  it("never double-books GPU memory or a port, with workers in two processes racing for a nearly full fleet", async () => {
    f = await schedFixture();
    // A second control-plane process running only the scheduler (placement worker + reconciler).
    child = fork(new URL("../bench/bench-worker.ts", import.meta.url), [], {
      env: { ...process.env, BENCH_REDIS_URL: inject("redisUrl"), BENCH_PREFIX: f.keys.prefix, BENCH_CONCURRENCY: "8" },
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    const placedByChild = new Set<string>();
    await new Promise<void>((resolve, reject) => {
      child!.on("message", (m: { ready?: boolean; placed?: Array<[string, number, number, number]> }) => {
        if (m.ready) resolve();
        for (const [instance] of m.placed ?? []) placedByChild.add(instance);
      });
      child!.once("exit", (code) => reject(new Error(`worker process exited ${code}`)));
    });

    // 8 nodes, 2 GPUs of 16 GiB, 16 ports each (8 processes by ports): room for fewer than asked.
    for (let i = 0; i < 8; i++) {
      await f.addNode({ name: `n${i}`, gpusMb: [16_384, 16_384], portRange: [21_000, 21_015] });
    }
    const names = Array.from({ length: 90 }, (_, i) => `inst-${i}`);
    // Write every instance, then enqueue them five to a job: many small jobs at once, which both
    // processes take and place concurrently on overlapping views of the fleet.
    const { create, toJsonString } = await import("@bufbuild/protobuf");
    const { InstanceSchema } = await import("@tei-fleet/proto/fleet/v1");
    const write = f.redis.multi();
    for (const [i, name] of names.entries()) {
      write
        .set(
          f.keys.instance(name),
          toJsonString(
            InstanceSchema,
            create(InstanceSchema, {
              spec: { name, modelId: "m", gpuMemoryMb: BigInt(2048 + (i % 4) * 1024), placementPolicy: i % 3 === 0 ? "spread" : "binpack" },
              revision: 1n,
            }),
          ),
        )
        .zadd(f.keys.instances(), i, name);
    }
    await write.exec();
    for (let i = 0; i < names.length; i += 5) await f.scheduler.enqueueMany(names.slice(i, i + 5));

    // Wait until every instance is decided: placed, or pending because no node has room. A
    // replica whose claims kept losing races is pending too for a moment ("placement kept
    // conflicting with other schedulers"), retried 500 ms later: not decided yet.
    await f.until(async () => {
      const decided = await Promise.all(
        names.map(async (n) => {
          const rs = await f!.replicas(n);
          return rs.length === 1 && (rs[0]!.node !== "" || /on 0\/8 eligible nodes/.test(rs[0]!.reason));
        }),
      );
      return decided.every(Boolean);
    }, 30_000);
    // The worker process reports its placements in batches; stopping it flushes the last one.
    const exited = new Promise((r) => child!.once("exit", r));
    child!.send("stop");
    await exited;
    const replicas = (await Promise.all(names.map((n) => f!.replicas(n)))).flat();
    const placedCount = replicas.filter((r) => r.node !== "").length;
    const pending = replicas.filter((r) => r.status === "pending");
    expect(placedCount + pending.length).toBe(names.length);
    expect(pending.length).toBeGreaterThan(0); // the fleet really was over-subscribed
    for (const p of pending) expect(p.reason).toMatch(/on 0\/8 eligible nodes/);

    const audit = await auditFleet(f.redis, f.keys);
    expect(audit.examples).toEqual([]);
    expect(audit).toMatchObject({ assignments: placedCount, doubleBookedGpus: 0, doubleBookedPorts: 0, claimMismatches: 0 });
    // Both processes really took part.
    expect(placedByChild.size).toBeGreaterThan(0);
    expect(placedByChild.size).toBeLessThan(placedCount);
  });
});
