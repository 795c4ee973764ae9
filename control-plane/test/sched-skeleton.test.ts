import { afterEach, describe, expect, it } from "vitest";
import { placed, type SchedFixture, schedFixture } from "./sched-fixtures.ts";

let f: SchedFixture;
afterEach(async () => {
  await f?.close();
});

describe("create -> placed -> assignment -> route", () => {
  it("places a new instance on a node with a free GPU and routes to it once running", async () => {
    f = await schedFixture();
    const agent = await f.addNode({ name: "gpu-a", address: "127.0.0.2", gpusMb: [81920, 81920] });
    await f.putInstance({ name: "emb", modelId: "BAAI/bge-small-en-v1.5" });

    const [replica] = await f.until(async () => {
      const r = await placed(f, "emb");
      return r.length === 1 && r;
    });
    expect(replica!.node).toBe("gpu-a");
    expect(replica!.gpuIds).toHaveLength(1);
    expect(replica!.port).toBeGreaterThanOrEqual(20000);
    expect(replica!.prometheusPort).not.toBe(replica!.port);

    await f.until(async () => agent.assignments.size === 1);
    const assignment = [...agent.assignments.values()][0]!;
    expect(assignment.instanceName).toBe("emb");
    expect(assignment.gpuUuids[0]).toMatch(/^GPU-gpu-a-/);
    expect(assignment.epoch).toBe(agent.epoch);

    const table = await f.until(async () => {
      const t = await f.scheduler.routes.get();
      return t.routes.length === 1 && t;
    });
    expect(table.routes[0]).toMatchObject({ instanceName: "emb", node: "gpu-a", address: `127.0.0.2:${replica!.port}` });
    const [running] = await f.replicas("emb");
    expect(running!.status).toBe("running");
  });

  it("removes the assignment and the route when the instance is deleted", async () => {
    f = await schedFixture();
    const agent = await f.addNode({ name: "gpu-a", gpusMb: [81920] });
    await f.putInstance({ name: "emb" });
    await f.until(async () => (await f.scheduler.routes.get()).routes.length === 1);
    await f.deleteInstance("emb");
    await f.until(async () => agent.assignments.size === 0);
    expect((await f.scheduler.routes.get()).routes).toHaveLength(0);
    expect(await f.redis.hgetall(f.keys.nodeClaims("gpu-a"))).toEqual({});
    expect(await f.redis.exists(f.keys.replicas("emb"))).toBe(0);
  });
});
