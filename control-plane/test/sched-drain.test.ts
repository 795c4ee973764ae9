import { afterEach, describe, expect, it } from "vitest";
import { placed, type SchedFixture, schedFixture } from "./sched-fixtures.ts";

let f: SchedFixture;
afterEach(async () => {
  await f?.close();
});

describe("cordon and drain", () => {
  it("a cordoned node gets no new instances; uncordoned it does again", async () => {
    f = await schedFixture();
    await f.addNode({ name: "a", gpusMb: [81920] });
    const node = await f.scheduler.nodes.cordon("a");
    expect(node.cordoned).toBe(true);
    await f.putInstance({ name: "emb" });
    const [r] = await f.until(async () => {
      const x = await f.replicas("emb");
      return x[0]?.status === "pending" && x;
    });
    expect(r!.reason).toBe("no eligible nodes (1 cordoned)");
    await f.scheduler.nodes.uncordon("a");
    await f.until(async () => (await placed(f, "emb")).length === 1);
  });

  it("moves every replica elsewhere, max_parallel at a time, each replacement running before its original stops", async () => {
    f = await schedFixture();
    const a = await f.addNode({ name: "a", gpusMb: [81920, 81920] });
    const names = ["e1", "e2", "e3", "e4", "e5"];
    for (const name of names) await f.putInstance({ name });
    await f.until(async () => (await f.scheduler.routes.get()).routes.length === 5);
    await f.addNode({ name: "b", gpusMb: [81920] });
    await f.addNode({ name: "c", gpusMb: [81920] });

    await f.scheduler.nodes.drain("a", { maxParallel: 2, deadlineSecs: 60 });
    let mostMovingAtOnce = 0;
    await f.until(async () => {
      const routes = (await f.scheduler.routes.get()).routes;
      // No instance is ever without a running replica in the route table.
      for (const name of names) expect(routes.some((r) => r.instanceName === name)).toBe(true);
      const assigned = f.agents.flatMap((x) => [...x.assignments.values()]);
      const doubled = names.filter((n) => assigned.filter((x) => x.instanceName === n).length > 1).length;
      mostMovingAtOnce = Math.max(mostMovingAtOnce, doubled);
      const node = await f.scheduler.nodes.get("a");
      return a.assignments.size === 0 && !node.draining;
    }, 20_000);
    expect(mostMovingAtOnce).toBeGreaterThan(0);
    expect(mostMovingAtOnce).toBeLessThanOrEqual(2);
    const node = await f.scheduler.nodes.get("a");
    expect(node).toMatchObject({ cordoned: true, draining: false });
    for (const name of names) expect((await placed(f, name)).map((r) => r.node)).not.toContain("a");
    const kinds = (await f.redis.xrange(f.keys.events(), "-", "+")).map(([, x]) => x[x.indexOf("kind") + 1]);
    expect(kinds).toContain("node.draining");
    expect(kinds).toContain("node.drained");
  });

  it("stops what is left at the deadline when nothing else has room", async () => {
    f = await schedFixture();
    const a = await f.addNode({ name: "a", gpusMb: [81920] });
    await f.putInstance({ name: "emb" });
    await f.until(async () => (await f.scheduler.routes.get()).routes.length === 1);
    await f.scheduler.nodes.drain("a", { maxParallel: 1, deadlineSecs: 1 });
    await f.until(async () => a.assignments.size === 0 && !(await f.scheduler.nodes.get("a")).draining, 10_000);
    const [r] = await f.until(async () => {
      const x = await f.replicas("emb");
      return x[0]?.status === "pending" && x;
    });
    expect(r!.reason).toMatch(/^no eligible nodes \(1 (draining|cordoned)\)$/);
  });

  it("refuses to act on a node that does not exist", async () => {
    f = await schedFixture();
    await expect(f.scheduler.nodes.drain("ghost")).rejects.toThrow('node "ghost" is not registered');
    await expect(f.scheduler.nodes.cordon("ghost")).rejects.toThrow('node "ghost" is not registered');
    expect(await f.redis.exists(f.keys.drain("ghost"))).toBe(0);
  });
});
