import type { ReplicaPhase } from "@tei-fleet/core";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";
import { rescheduleDelayMs } from "../src/scheduler/reschedule-policy.ts";
import { placed, type SchedFixture, schedFixture } from "./sched-fixtures.ts";

// A replica that keeps failing on its node (failed, crash_loop) moves to another node, avoiding
// the nodes it failed on, a bounded number of times per window (Nomad's reschedule block).
let f: SchedFixture;
afterEach(async () => {
  await f?.close();
  f = undefined as unknown as SchedFixture; // the settings tests start none: do not close one twice
});

const HOUR = 3_600_000;

/** Messages of the events of one kind, oldest first. */
const events = async (kind: string) =>
  (await f.redis.xrange(f.keys.events(), "-", "+")).filter(([, x]) => x[x.indexOf("kind") + 1] === kind).map(([, x]) => x[x.indexOf("message") + 1]!);

/** Every agent reports every replica it runs with this status (the simulated TEI fails). */
function failEverywhere(status: ReplicaPhase = "crash_loop") {
  for (const agent of f.agents) for (const id of agent.assignments.keys()) agent.overrides.set(id, status);
}

/** The single placed replica of `name` once it runs. */
async function runningReplica(name: string) {
  return f.until(async () => {
    const [r, extra] = await placed(f, name);
    return r?.status === "running" && !extra && r;
  });
}

/** The replica of `name` once it alone runs somewhere other than `from`, and its agent has it. */
/** "emb" running on node a, then node b joins with room for it: the scene of most tests here. */
async function runningOnAWithRoomOnB() {
  const a = await f.addNode({ name: "a", gpusMb: [81920] });
  await f.putInstance({ name: "emb" });
  const first = await runningReplica("emb");
  await f.addNode({ name: "b", gpusMb: [81920] });
  return { a, first };
}

async function movedOff(name: string, from: string) {
  return f.until(async () => {
    const [r, extra] = await placed(f, name);
    const agent = f.agents.find((a) => a.spec.name === r?.node);
    return r && !extra && r.node !== from && agent?.assignments.has(r.assignmentId) && r;
  }, 15_000);
}

/**
 * Gives the scheduler time to act (heartbeats, a reconcile, a full compare), for checks that
 * something does NOT happen: with a fake clock nothing else moves time forward.
 */
async function settle(name: string) {
  await f.scheduler.enqueue(name);
  for (let i = 0; i < 8; i++) {
    await f.beat();
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** A fixture on a fake clock; nodes never go silent by it and retirement does not wait for it. */
async function fakeClockFixture(options: Parameters<typeof schedFixture>[0] = {}) {
  const clock = { now: Date.now() };
  f = await schedFixture({ now: () => clock.now, heartbeatTtlMs: 100 * HOUR, routeGraceMs: 0, ...options });
  return clock;
}

describe("rescheduling a failing replica", () => {
  it("a crash_loop replica moves to another node once failing long enough, and its old replica is retired", async () => {
    f = await schedFixture({ rescheduleAfterMs: 600 });
    const { a, first } = await runningOnAWithRoomOnB();
    expect(first.node).toBe("a");

    a.overrides.set(first.assignmentId, "crash_loop");
    const failedAt = Date.now();
    const moved = await f.until(async () => {
      const [r, extra] = await placed(f, "emb");
      return r?.node === "b" && !extra && a.assignments.size === 0 && r;
    }, 15_000);
    expect(Date.now() - failedAt).toBeGreaterThanOrEqual(600);
    expect(moved.assignmentId).not.toBe(first.assignmentId);
    expect(await f.redis.hexists(f.keys.replicas("emb"), first.assignmentId)).toBe(0);
    const [event, more] = await events("instance.rescheduled");
    expect(more).toBeUndefined();
    expect(event).toMatch(
      new RegExp(`^replica 0 \\(${first.assignmentId}\\) rescheduled from a to b after \\d+ s crash_loop \\(reschedule 1 of at most 3 per hour\\)$`),
    );
    // The replacement runs on b and serves.
    await f.until(async () => (await placed(f, "emb"))[0]?.status === "running" && (await f.scheduler.routes.get()).routes.some((r) => r.node === "b"));
  });

  it("releases the failing replica at once: it has no route, so routers need no grace", async () => {
    f = await schedFixture({ rescheduleAfterMs: 300, routeGraceMs: 60_000 });
    const { a, first } = await runningOnAWithRoomOnB();
    a.overrides.set(first.assignmentId, "crash_loop");
    // Within seconds, not the minute of route grace a routed replica would be given.
    await f.until(async () => (await placed(f, "emb"))[0]?.node === "b" && a.assignments.size === 0, 15_000);
  });

  it("stays where it is, saying why and which node it avoids, while nothing else fits; moves when a node joins", async () => {
    f = await schedFixture({ rescheduleAfterMs: 300 });
    const gpu3 = await f.addNode({ name: "gpu-3", gpusMb: [81920] });
    await f.addNode({ name: "small", gpusMb: [1024] });
    await f.putInstance({ name: "emb", gpuMemoryMb: 8192n });
    const first = await runningReplica("emb");
    expect(first.node).toBe("gpu-3");

    gpu3.overrides.set(first.assignmentId, "crash_loop");
    const blocked = await f.until(async () => (await events("instance.reschedule_blocked"))[0]);
    expect(blocked).toBe(
      `replica 0 (${first.assignmentId}) stays crash_loop on gpu-3: cannot move: replacement pending: ` +
        "insufficient GPU memory on 0/1 eligible nodes (avoiding node gpu-3 where it failed); tried again later",
    );
    await settle("emb");
    const [still, extra] = await placed(f, "emb");
    expect(extra).toBeUndefined();
    expect(still).toMatchObject({ assignmentId: first.assignmentId, node: "gpu-3", status: "crash_loop" });
    // Said once, not on every retry.
    expect(await events("instance.reschedule_blocked")).toHaveLength(1);
    expect(await events("instance.rescheduled")).toEqual([]);

    await f.addNode({ name: "b", gpusMb: [81920] });
    expect((await movedOff("emb", "gpu-3")).node).toBe("b");
    await f.until(async () => gpu3.assignments.size === 0);
    expect((await events("instance.rescheduled"))[0]).toContain("rescheduled from gpu-3 to b");
  });

  it("a replica pinned to its node stays there, saying so", async () => {
    f = await schedFixture({ rescheduleAfterMs: 300 });
    const a = await f.addNode({ name: "a", gpusMb: [81920] });
    await f.addNode({ name: "b", gpusMb: [81920] });
    await f.putInstance({ name: "emb", node: "a" });
    const first = await runningReplica("emb");
    a.overrides.set(first.assignmentId, "failed");
    const note = await f.until(async () => (await events("instance.reschedule_blocked"))[0]);
    expect(note).toBe(`replica 0 (${first.assignmentId}) stays failed on a: pinned to node a: it cannot move`);
    expect((await placed(f, "emb")).map((r) => r.node)).toEqual(["a"]);
  });

  it("is bounded: each reschedule waits twice as long, and past the limit it gives up until the window allows another", async () => {
    const clock = await fakeClockFixture({ rescheduleAfterMs: 30_000, rescheduleAttempts: 2, rescheduleIntervalMs: HOUR });
    for (const name of ["a", "b", "c"]) await f.addNode({ name, gpusMb: [81920] });
    await f.putInstance({ name: "emb" });
    const n0 = (await runningReplica("emb")).node;

    // First reschedule after 30 s of failing.
    failEverywhere();
    await f.beat();
    clock.now += 29_000;
    await settle("emb");
    expect((await placed(f, "emb")).map((r) => r.node)).toEqual([n0]);
    clock.now += 1_000;
    const firstMoveAt = clock.now;
    const n1 = (await movedOff("emb", n0)).node;

    // The second needs 60 s of failing on its new node, and goes to the node not failed on yet.
    failEverywhere();
    await f.beat();
    clock.now += 30_000;
    await settle("emb");
    expect((await placed(f, "emb")).map((r) => r.node)).toEqual([n1]);
    clock.now += 30_000;
    const n2 = (await movedOff("emb", n1)).node;
    expect([n0, n1]).not.toContain(n2);

    // The third would exceed 2 per hour: it stays, saying until when.
    failEverywhere();
    await f.beat();
    clock.now += 10 * 60_000;
    const until = new Date(firstMoveAt + HOUR).toISOString();
    const note = await f.until(async () => (await events("instance.reschedule_blocked"))[0]);
    expect(note).toMatch(new RegExp(`stays crash_loop on ${n2}: rescheduled 2 times in the last hour; giving up until ${until}$`));
    await settle("emb");
    expect((await placed(f, "emb")).map((r) => r.node)).toEqual([n2]);
    expect(await events("instance.rescheduled")).toHaveLength(2);

    // Once the first reschedule leaves the window it moves again, avoiding only the node of the
    // reschedule still in the window (and its own).
    clock.now = firstMoveAt + HOUR;
    const n3 = (await movedOff("emb", n2)).node;
    expect(n3).toBe(n0);
    expect(await events("instance.rescheduled")).toHaveLength(3);
  });

  it("a replica that runs again before the delay stays, and a later failure starts a fresh clock", async () => {
    const clock = await fakeClockFixture({ rescheduleAfterMs: 30_000 });
    const { a, first } = await runningOnAWithRoomOnB();

    a.overrides.set(first.assignmentId, "crash_loop");
    await f.until(async () => (await placed(f, "emb"))[0]?.status === "crash_loop");
    clock.now += 10_000;
    a.overrides.delete(first.assignmentId); // TEI came up after all
    await f.until(async () => (await placed(f, "emb"))[0]?.status === "running");
    clock.now += 30_000; // 40 s after the first failure
    await settle("emb");
    expect((await placed(f, "emb")).map((r) => [r.assignmentId, r.node])).toEqual([[first.assignmentId, "a"]]);

    // Failing again: 10 s of this episode is not enough, though the first began 50 s ago.
    a.overrides.set(first.assignmentId, "failed");
    await f.until(async () => (await placed(f, "emb"))[0]?.status === "failed");
    clock.now += 10_000;
    await settle("emb");
    expect((await placed(f, "emb")).map((r) => r.node)).toEqual(["a"]);
    expect(await events("instance.rescheduled")).toEqual([]);
    clock.now += 20_000;
    expect((await movedOff("emb", "a")).node).toBe("b");
    expect((await events("instance.rescheduled"))[0]).toContain("after 30 s failed");
  });

  it("TEI_FLEET_RESCHEDULE_AFTER_MS=0 disables it: a failed replica stays on its node however long it fails", async () => {
    const clock = await fakeClockFixture({ rescheduleAfterMs: 0 });
    const { a, first } = await runningOnAWithRoomOnB();
    a.overrides.set(first.assignmentId, "crash_loop");
    await f.until(async () => (await placed(f, "emb"))[0]?.status === "crash_loop");
    clock.now += 2 * HOUR;
    await settle("emb");
    expect((await placed(f, "emb")).map((r) => [r.assignmentId, r.node, r.status])).toEqual([[first.assignmentId, "a", "crash_loop"]]);
    expect(await events("instance.rescheduled")).toEqual([]);
    expect(await events("instance.reschedule_blocked")).toEqual([]);
  });
});

describe("reschedule settings", () => {
  it("are read from the environment, with 0 allowed only for the delay, and bad values named", () => {
    const cfg = loadConfig(
      {},
      {
        TEI_FLEET_RESCHEDULE_AFTER_MS: "0",
        TEI_FLEET_RESCHEDULE_ATTEMPTS: "5",
        TEI_FLEET_RESCHEDULE_INTERVAL_MS: "600000",
      },
    );
    expect(cfg.scheduler).toMatchObject({ rescheduleAfterMs: 0, rescheduleAttempts: 5, rescheduleIntervalMs: 600_000 });
    expect(() => loadConfig({}, { TEI_FLEET_RESCHEDULE_ATTEMPTS: "0" })).toThrow(/TEI_FLEET_RESCHEDULE_ATTEMPTS/);
    expect(() => loadConfig({}, { TEI_FLEET_RESCHEDULE_AFTER_MS: "soon" })).toThrow(/TEI_FLEET_RESCHEDULE_AFTER_MS/);
  });

  it("the delay doubles from TEI_FLEET_RESCHEDULE_AFTER_MS and is capped at 10 minutes", () => {
    const policy = { afterMs: 30_000, attempts: 10, intervalMs: HOUR };
    expect([0, 1, 2, 3, 4, 5].map((n) => rescheduleDelayMs(policy, n))).toEqual([30_000, 60_000, 120_000, 240_000, 480_000, 600_000]);
  });
});
