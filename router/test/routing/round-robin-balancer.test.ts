import { describe, expect, test } from "vitest";
import { type RouteInput, RouteTable } from "../../src/index.ts";
import type { Balancer, ReplicaGroup } from "../../src/routing/balancer.ts";
import { isReady, newReplica, type Replica } from "../../src/routing/replica.ts";
import { RoundRobinBalancer } from "../../src/routing/round-robin-balancer.ts";

function replica(instanceName: string, extra: Partial<RouteInput> = {}): Replica {
  return newReplica({ instanceName, modelId: "m", node: "n", address: `${instanceName}:1`, assignmentId: `${instanceName}-a`, replica: 0, ...extra }, null);
}

function picks(b: Balancer, g: ReplicaGroup, n: number, exclude: Replica | null = null): (string | undefined)[] {
  return Array.from({ length: n }, () => b.pick(g, exclude)?.instanceName);
}

describe("round-robin", () => {
  const rr = new RoundRobinBalancer();

  test("takes the group's replicas in turn", () => {
    const g = { replicas: [replica("a"), replica("b"), replica("c")], cursor: 0 };
    expect(picks(rr, g, 7)).toEqual(["a", "b", "c", "a", "b", "c", "a"]);
  });

  test("skips ejected replicas and takes them back once their ejection has run out", () => {
    const [a, b, c] = [replica("a"), replica("b"), replica("c")];
    const g = { replicas: [a, b, c], cursor: 0 };
    b.ejectedUntil = Date.now() + 60_000;
    expect(picks(rr, g, 4)).toEqual(["a", "c", "a", "c"]);
    b.ejectedUntil = Date.now() - 1;
    expect(picks(rr, g, 3)).toEqual(["a", "b", "c"]);
    expect(b.ejectedUntil).toBe(0);
  });

  test("never picks the excluded replica (a retry's), and null when nothing else is ready", () => {
    const [a, b] = [replica("a"), replica("b")];
    const g = { replicas: [a, b], cursor: 0 };
    expect(picks(rr, g, 3, a)).toEqual(["b", "b", "b"]);
    b.ejectedUntil = Date.now() + 60_000;
    expect(rr.pick(g, a)).toBeNull();
    a.ejectedUntil = Date.now() + 60_000;
    expect(rr.pick(g, null)).toBeNull();
  });

  test("ignores call starts and ends", () => {
    const a = replica("a");
    rr.onCallStart(a);
    rr.onCallEnd(a);
    expect(isReady(a)).toBe(true);
  });
});

describe("the route table with a balancer", () => {
  const routes: RouteInput[] = ["a", "b", "c"].map((n) => ({
    instanceName: n,
    modelId: "m",
    node: "n",
    address: `${n}:1`,
    assignmentId: `${n}-a`,
    replica: 0,
  }));

  test("delegates model and instance picks to its balancer, retries' alternatives too", () => {
    const seen: { group: string[]; exclude: string | undefined }[] = [];
    const last: Balancer = {
      pick(g, exclude) {
        seen.push({ group: g.replicas.map((r) => r.instanceName), exclude: exclude?.instanceName });
        const ready = g.replicas.filter((r) => r !== exclude && isReady(r));
        return ready[ready.length - 1] ?? null;
      },
      onCallStart() {},
      onCallEnd() {},
    };
    const table = new RouteTable(last);
    table.replace(routes, 1n);
    expect(table.balancer).toBe(last);
    const chosen = table.resolve({ kind: "model", model: "m" });
    expect(chosen.instanceName).toBe("c");
    expect(table.alternative(chosen, { kind: "model", model: "m" })?.instanceName).toBe("b");
    expect(table.resolve({ kind: "instance", name: "a" }).instanceName).toBe("a");
    expect(seen).toEqual([
      { group: ["a", "b", "c"], exclude: undefined },
      { group: ["a", "b", "c"], exclude: "c" },
      { group: ["a"], exclude: undefined },
    ]);
  });

  test("keeps a group's round-robin position across a table update that keeps the group", () => {
    const table = new RouteTable();
    table.replace(routes, 1n);
    const model = { kind: "model", model: "m" } as const;
    expect([table.resolve(model), table.resolve(model)].map((r) => r.instanceName)).toEqual(["a", "b"]);
    table.replace(routes, 2n);
    expect(table.resolve(model).instanceName).toBe("c");
  });
});
