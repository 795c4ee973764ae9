import { afterEach, describe, expect, it } from "vitest";
import { auditFleet } from "../bench/fleet-audit.ts";
import { placed, type SchedFixture, schedFixture } from "./sched-fixtures.ts";

let f: SchedFixture;
afterEach(async () => {
  await f?.close();
});

const events = async (kind: string) =>
  (await f.redis.xrange(f.keys.events(), "-", "+"))
    .filter(([, fields]) => fields[fields.indexOf("kind") + 1] === kind)
    .map(([, fields]) => fields[fields.indexOf("message") + 1]!);

describe("pending until capacity appears", () => {
  it("an instance that fits nowhere is pending with a reason, and placed when a node joins", async () => {
    f = await schedFixture();
    await f.addNode({ name: "small", gpusMb: [8192] });
    await f.putInstance({ name: "big", gpuMemoryMb: 20_000n });
    const [pending] = await f.until(async () => {
      const r = await f.replicas("big");
      return r[0]?.status === "pending" && r;
    });
    expect(pending!.reason).toBe("insufficient GPU memory on 0/1 eligible nodes");
    expect(await f.redis.sismember(f.keys.pending(), "big")).toBe(1);
    expect((await events("instance.pending"))[0]).toContain("insufficient GPU memory on 0/1 eligible nodes");

    await f.addNode({ name: "large", gpusMb: [81920] });
    const [replica] = await f.until(async () => {
      const r = await placed(f, "big");
      return r.length === 1 && r;
    });
    expect(replica!.node).toBe("large");
    expect(await f.redis.sismember(f.keys.pending(), "big")).toBe(0);
  });

  it("a pending instance is placed when another instance is deleted and frees the GPU", async () => {
    f = await schedFixture();
    await f.addNode({ name: "only", gpusMb: [10_000] });
    await f.putInstance({ name: "first", gpuMemoryMb: 8000n });
    await f.until(async () => (await placed(f, "first")).length === 1);
    await f.putInstance({ name: "second", gpuMemoryMb: 8000n });
    await f.until(async () => (await f.replicas("second"))[0]?.status === "pending");
    await f.deleteInstance("first");
    const [replica] = await f.until(async () => {
      const r = await placed(f, "second");
      return r.length === 1 && r;
    });
    expect(replica!.node).toBe("only");
  });

  it("a selector nothing matches stays pending, naming the selector", async () => {
    f = await schedFixture();
    await f.addNode({ name: "a", gpusMb: [81920], labels: { gpu: "a100" } });
    await f.putInstance({ name: "h", nodeSelector: { gpu: "h100" } });
    const [r] = await f.until(async () => {
      const x = await f.replicas("h");
      return x[0]?.status === "pending" && x;
    });
    expect(r!.reason).toBe("no eligible nodes (1 not matching the node selector)");
    await f.addNode({ name: "h1", gpusMb: [81920], labels: { gpu: "h100" } });
    await f.until(async () => (await placed(f, "h"))[0]?.node === "h1");
  });
});

describe("level-triggered repair", () => {
  it("places an instance whose enqueue was lost, from the periodic compare alone", async () => {
    f = await schedFixture();
    await f.addNode({ name: "a", gpusMb: [81920] });
    const { create, toJsonString } = await import("@bufbuild/protobuf");
    const { InstanceSchema } = await import("@tei-fleet/proto/fleet/v1");
    // Written as the API would, but nobody calls enqueue().
    await f.redis
      .multi()
      .set(
        f.keys.instance("quiet"),
        toJsonString(
          InstanceSchema,
          create(InstanceSchema, {
            spec: { name: "quiet", modelId: "BAAI/bge-small-en-v1.5" },
            revision: 1n,
          }),
        ),
      )
      .zadd(f.keys.instances(), Date.now(), "quiet")
      .exec();
    await f.until(async () => (await placed(f, "quiet")).length === 1, 10_000);
  });

  it("re-places a replica whose assignment vanished behind the scheduler's back", async () => {
    f = await schedFixture();
    const agent = await f.addNode({ name: "a", gpusMb: [81920] });
    await f.putInstance({ name: "emb" });
    const [r] = await f.until(async () => {
      const x = await placed(f, "emb");
      return x[0]?.status === "running" && x;
    });
    await f.redis.hdel(f.keys.assignments("a"), r!.assignmentId);
    // The periodic compare notices, gives back the orphaned claims and places the replica again.
    await f.until(async () => (await f.redis.hexists(f.keys.assignments("a"), r!.assignmentId)) === 1, 10_000);
    const audit = await auditFleet(f.redis, f.keys);
    expect(audit).toMatchObject({ assignments: 1, claimMismatches: 0, doubleBookedPorts: 0 });
    await f.until(async () => agent.assignments.size === 1 && (await f.scheduler.routes.get()).routes.length === 1);
  });
});

describe("replicas", () => {
  it("runs N replicas and spreads them over nodes with policy spread", async () => {
    f = await schedFixture();
    for (const name of ["a", "b", "c"]) await f.addNode({ name, gpusMb: [81920, 81920] });
    await f.putInstance({ name: "emb", replicas: 3, placementPolicy: "spread" });
    const replicas = await f.until(async () => {
      const r = await placed(f, "emb");
      return r.length === 3 && r;
    });
    expect(new Set(replicas.map((r) => r.node)).size).toBe(3);
    expect(replicas.map((r) => r.index)).toEqual([0, 1, 2]);
    await f.until(async () => (await f.scheduler.routes.get()).routes.length === 3);
  });

  it("scales down by retiring the highest indexes: out of the routes first, then stopped", async () => {
    f = await schedFixture();
    await f.addNode({ name: "a", gpusMb: [81920] });
    await f.putInstance({ name: "emb", replicas: 3 });
    await f.until(async () => (await f.scheduler.routes.get()).routes.length === 3);
    await f.putInstance({ name: "emb", replicas: 1 }, 2);
    await f.until(async () => (await f.scheduler.routes.get()).routes.length === 1);
    await f.until(async () => f.agents[0]!.assignments.size === 1);
    expect((await f.replicas("emb")).map((r) => [r.index, r.revision])).toEqual([[0, 2n]]);
  });
});

describe("spec changes without downtime", () => {
  it("starts the new revision next to the old one and stops the old one only once the new one runs", async () => {
    f = await schedFixture();
    const agent = await f.addNode({ name: "a", gpusMb: [81920] });
    await f.putInstance({ name: "emb" });
    await f.until(async () => (await f.scheduler.routes.get()).routes.length === 1);
    const before = (await f.scheduler.routes.get()).routes[0]!;

    await f.putInstance({ name: "emb", maxBatchTokens: 2048 }, 2);
    // Both processes exist at some point and the route never goes empty.
    let sawBoth = false;
    await f.until(async () => {
      if (agent.assignments.size === 2) sawBoth = true;
      const routes = (await f.scheduler.routes.get()).routes;
      expect(routes.length).toBeGreaterThan(0);
      return routes.length === 1 && routes[0]!.assignmentId !== before.assignmentId && agent.assignments.size === 1;
    });
    expect(sawBoth).toBe(true);
    const [assignment] = agent.assignments.values();
    expect(assignment!.revision).toBe(2n);
    expect(assignment!.spec?.maxBatchTokens).toBe(2048);
  });

  it("restart replaces each replica with a new process before stopping the old one", async () => {
    f = await schedFixture();
    const agent = await f.addNode({ name: "a", gpusMb: [81920] });
    await f.putInstance({ name: "emb" });
    await f.until(async () => (await f.scheduler.routes.get()).routes.length === 1);
    const [before] = agent.assignments.values();
    await f.scheduler.restart("emb");
    await f.until(async () => {
      expect((await f.scheduler.routes.get()).routes.length).toBeGreaterThan(0);
      const ids = [...agent.assignments.keys()];
      return ids.length === 1 && ids[0] !== before!.assignmentId;
    });
    const [after] = agent.assignments.values();
    expect(after!.port).not.toBe(before!.port);
    await f.until(async () => (await f.redis.hlen(f.keys.retiring("emb"))) === 0);
  });

  it("stops the old revision first when both do not fit", async () => {
    f = await schedFixture();
    const agent = await f.addNode({ name: "a", gpusMb: [10_000] });
    await f.putInstance({ name: "emb", gpuMemoryMb: 8000n });
    await f.until(async () => (await f.scheduler.routes.get()).routes.length === 1);
    await f.putInstance({ name: "emb", gpuMemoryMb: 9000n }, 2);
    await f.until(async () => {
      const [a] = agent.assignments.values();
      return agent.assignments.size === 1 && a!.revision === 2n && (await f.scheduler.routes.get()).routes.length === 1;
    });
  });

  it("a stopped instance releases its GPU and keeps one stopped record per replica", async () => {
    f = await schedFixture();
    const agent = await f.addNode({ name: "a", gpusMb: [81920] });
    await f.putInstance({ name: "emb", replicas: 2 });
    await f.until(async () => agent.assignments.size === 2);
    await f.putInstance({ name: "emb", replicas: 2, desiredState: "stopped" }, 2);
    await f.until(async () => agent.assignments.size === 0 && (await f.replicas("emb")).every((r) => r.status === "stopped"));
    expect(await f.redis.hgetall(f.keys.nodeClaims("a"))).toEqual({});
    await f.putInstance({ name: "emb", replicas: 2, desiredState: "running" }, 3);
    await f.until(async () => (await f.scheduler.routes.get()).routes.length === 2);
  });
});

describe("node failure", () => {
  it("reschedules the instances of a node that stops heartbeating, and removes its routes at once", async () => {
    f = await schedFixture();
    const a = await f.addNode({ name: "a", gpusMb: [81920] });
    await f.addNode({ name: "b", gpusMb: [81920] });
    await f.putInstance({ name: "emb", node: undefined, replicas: 1 });
    const [first] = await f.until(async () => {
      const r = await placed(f, "emb");
      return r[0]?.status === "running" && r;
    });
    const victim = f.agents.find((x) => x.spec.name === first!.node)!;
    victim.silent = true;
    const lostAt = Date.now();
    await f.until(async () => {
      const node = await f.scheduler.nodes.get(victim.spec.name);
      return node.state === "lost";
    });
    expect((await f.scheduler.routes.get()).routes.filter((r) => r.node === victim.spec.name)).toEqual([]);
    const [moved] = await f.until(async () => {
      const r = await placed(f, "emb");
      return r[0]?.status === "running" && r[0].node !== victim.spec.name && r;
    });
    expect(moved!.node).not.toBe(victim.spec.name);
    expect(Date.now() - lostAt).toBeLessThan(10_000);
    expect((await events("node.lost")).length).toBe(1);
    void a;
  });

  it("a returning node gets a new epoch and its stale assignments are gone, so it stops them", async () => {
    f = await schedFixture();
    await f.addNode({ name: "a", gpusMb: [81920] });
    await f.addNode({ name: "b", gpusMb: [81920] });
    await f.putInstance({ name: "emb" });
    const [first] = await f.until(async () => {
      const r = await placed(f, "emb");
      return r[0]?.status === "running" && r;
    });
    const victim = f.agents.find((x) => x.spec.name === first!.node)!;
    const oldEpoch = victim.epoch;
    victim.silent = true;
    await f.until(async () => {
      const r = await placed(f, "emb");
      return r[0]?.status === "running" && r[0].node !== victim.spec.name;
    });
    expect(victim.assignments.size).toBe(1); // still believes it runs the old one

    victim.silent = false;
    await f.until(async () => victim.epoch > oldEpoch && victim.assignments.size === 0);
    expect((await events("node.returned")).length).toBe(1);
    // The fleet converged to exactly one replica.
    await f.beat();
    const all = f.agents.reduce((n, x) => n + x.assignments.size, 0);
    expect(all).toBe(1);
    expect((await f.scheduler.routes.get()).routes).toHaveLength(1);
  });

  it("a node that leaves on purpose has its instances placed elsewhere", async () => {
    f = await schedFixture();
    await f.addNode({ name: "a", gpusMb: [81920] });
    await f.putInstance({ name: "emb", node: "a" });
    await f.until(async () => (await f.scheduler.routes.get()).routes.length === 1);
    await f.agents[0]!.leave();
    expect((await f.scheduler.nodes.get("a")).state).toBe("left");
    expect((await f.scheduler.routes.get()).routes).toHaveLength(0);
    const [r] = await f.until(async () => {
      const x = await f.replicas("emb");
      return x[0]?.status === "pending" && x;
    });
    expect(r!.reason).toBe('pinned node "a" is left');
  });
});
