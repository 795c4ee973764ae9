import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";
import { defineScripts, runScript } from "../src/store/lua-scripts.ts";
import { DEFAULT_TIMINGS } from "../src/store/scheduler-context.ts";
import { placed, type SchedFixture, schedFixture } from "./sched-fixtures.ts";

let f: SchedFixture;
afterEach(async () => {
  await f?.close();
  f = undefined as unknown as SchedFixture; // the config test starts none: do not close this one twice
});

const names = async () => (await f.scheduler.nodes.list()).map((n) => n.name).sort();
const deletedEvents = async () =>
  (await f.redis.xrange(f.keys.events(), "-", "+"))
    .map(([, fields]) => Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i]!, fields[2 * i + 1]!])))
    .filter((e) => e.kind === "node.deleted");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (without heartbeats: every agent of these tests is silent) until `check` holds. */
async function waitUntil(check: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await sleep(50);
  }
}

describe("forgetting lost nodes (TEI_FLEET_LOST_NODE_RETENTION_MS)", () => {
  it("a lost node is kept within the retention and deleted by the reconcile loop after it", async () => {
    // The scheduler's clock is the test's: a minute of retention passes in a few statements.
    let clock = Date.now();
    f = await schedFixture({ now: () => clock, lostNodeRetentionMs: 60_000 });
    const agent = await f.addNode({ name: "autoscaled-1", gpusMb: [81920] });
    agent.silent = true;
    clock += 2_000; // past the 1.5 s TTL: lost
    await waitUntil(async () => (await f.scheduler.nodes.get("autoscaled-1")).state === "lost");

    clock += 50_000; // lost for about 50 s of the 60
    await sleep(1_000); // five reconcile ticks
    expect(await names()).toEqual(["autoscaled-1"]);
    expect(await deletedEvents()).toEqual([]);

    clock += 12_000; // lost for about 62 s
    await waitUntil(async () => (await names()).length === 0);
    expect(await f.redis.exists(f.keys.node("autoscaled-1"), f.keys.assignmentsVersion("autoscaled-1"))).toBe(0);
    const [event] = await deletedEvents();
    expect(event).toMatchObject({
      node: "autoscaled-1",
      message: expect.stringContaining("node autoscaled-1 forgotten: lost for more than 60 s"),
    });

    // Coming back later, it simply registers anew.
    agent.silent = false;
    expect((await agent.heartbeat())?.reregister).toBe(true);
    expect(await f.scheduler.nodes.get("autoscaled-1")).toMatchObject({ state: "ready", epoch: 1n });
  });

  it("retention 0 keeps lost nodes forever", async () => {
    let clock = Date.now();
    f = await schedFixture({ now: () => clock, lostNodeRetentionMs: 0 });
    (await f.addNode({ name: "old", gpusMb: [81920] })).silent = true;
    clock += 10 * 365 * 86_400_000; // ten years later
    await waitUntil(async () => (await f.scheduler.nodes.get("old")).state === "lost");
    // A node that goes silent now is found lost by the same loop, at the same clock...
    (await f.addNode({ name: "newer", gpusMb: [81920] })).silent = true;
    clock += 2_000;
    await waitUntil(async () => (await f.scheduler.nodes.get("newer")).state === "lost");
    // ...which still lists the ten-year-old one.
    expect(await names()).toEqual(["newer", "old"]);
    expect(await deletedEvents()).toEqual([]);
  });

  it("the default is 24 h, and the setting is read from the environment and validated", () => {
    expect(DEFAULT_TIMINGS.lostNodeRetentionMs).toBe(24 * 3_600_000);
    expect(loadConfig({}, {}).scheduler.lostNodeRetentionMs).toBeUndefined();
    expect(loadConfig({}, { TEI_FLEET_LOST_NODE_RETENTION_MS: "0" }).scheduler.lostNodeRetentionMs).toBe(0);
    expect(loadConfig({}, { TEI_FLEET_LOST_NODE_RETENTION_MS: "3600000" }).scheduler.lostNodeRetentionMs).toBe(3_600_000);
    expect(() => loadConfig({}, { TEI_FLEET_LOST_NODE_RETENTION_MS: "-1" })).toThrow(/TEI_FLEET_LOST_NODE_RETENTION_MS/);
    expect(() => loadConfig({}, { TEI_FLEET_LOST_NODE_RETENTION_MS: "a day" })).toThrow(/TEI_FLEET_LOST_NODE_RETENTION_MS/);
  });
});

describe("the delete script is atomic with placement", () => {
  it("refuses when the record changed after it was read, or an assignment appeared; a fenced delete needs the lease", async () => {
    f = await schedFixture();
    await f.addNode({ name: "a", gpusMb: [81920] });
    await f.scheduler.nodes.cordon("a");
    const read = (await f.redis.get(f.keys.node("a")))!;
    defineScripts(f.redis);
    const k = f.keys;
    const run = (json: string, token = "") =>
      runScript(
        f.redis,
        "node-delete",
        [k.node("a"), k.nodeClaims("a"), k.assignments("a"), k.assignmentsVersion("a"), k.drain("a"), k.nodes(), k.events(), k.leaseToken("reconciler")],
        [token, json, "a", k.changesChannel(), "", "test", String(Date.now()), "10000"],
      );

    // The operator read "cordoned", then someone uncordoned and a placement landed.
    await f.scheduler.nodes.uncordon("a");
    await f.putInstance({ name: "emb" });
    await f.until(async () => (await placed(f, "emb")).length === 1);
    expect(await run(read)).toEqual([0, "changed"]);
    // Cordoned again, but the assignment is still there.
    await f.scheduler.nodes.cordon("a");
    expect(await run((await f.redis.get(k.node("a")))!)).toEqual([0, "assignments", 1]);
    expect(await run((await f.redis.get(k.node("a")))!, "stale-token")).toEqual([-1]);
    expect(await names()).toEqual(["a"]);
    expect((await placed(f, "emb"))[0]!.node).toBe("a");

    // The same through the node operations: refused with the reason, nothing removed.
    await expect(f.scheduler.nodes.delete("a")).rejects.toThrow("node a is cordoned with 1 assignment; drain it first");
  });
});
