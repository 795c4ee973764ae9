import { expect, test } from "vitest";
import type { ReplicaGroup } from "../../src/routing/balancer.ts";
import type { RouteInput } from "../../src/routing/replica.ts";
import { RoundRobinBalancer } from "../../src/routing/round-robin-balancer.ts";
import { RouteTable } from "../../src/routing/route-table.ts";
import type { Target } from "../../src/tei/target.ts";

/** Round-robin that remembers the group objects it was asked to pick in, by replica instance. */
class RecordingBalancer extends RoundRobinBalancer {
  readonly seen: ReplicaGroup[] = [];
  override pick(group: ReplicaGroup, exclude: Parameters<RoundRobinBalancer["pick"]>[1]) {
    this.seen.push(group);
    return super.pick(group, exclude);
  }
}

const route = (instanceName: string, replica: number, modelId: string, address: string): RouteInput => ({
  instanceName,
  replica,
  modelId,
  node: "n1",
  address,
  assignmentId: `${instanceName}-${replica}`,
});

const A0 = route("a", 0, "m1", "10.0.0.1:1");
const A1 = route("a", 1, "m1", "10.0.0.1:2");
const B0 = route("b", 0, "m2", "10.0.0.2:1");
const C0 = route("c", 0, "m1", "10.0.0.3:1");

function groupOf(table: RouteTable, balancer: RecordingBalancer, target: Target): ReplicaGroup {
  table.resolve(target);
  return balancer.seen.at(-1) as ReplicaGroup;
}

test("a change rebuilds only the groups it touches: the others stay the same objects, cursor and all", () => {
  const balancer = new RecordingBalancer();
  const table = new RouteTable(balancer);
  table.replace([A0, A1, B0, C0], 1n);
  const before = {
    a: groupOf(table, balancer, { kind: "instance", name: "a" }),
    b: groupOf(table, balancer, { kind: "instance", name: "b" }),
    c: groupOf(table, balancer, { kind: "instance", name: "c" }),
    m1: groupOf(table, balancer, { kind: "model", model: "m1" }),
    m2: groupOf(table, balancer, { kind: "model", model: "m2" }),
  };
  const bReplica = table.resolve({ kind: "instance", name: "b" });

  const diff = table.applyChanges({ removed: [A1], upserted: [], unreadyRemoved: [], unreadyUpserted: [] }, 2n);

  expect(diff.removed.map((r) => r.assignmentId)).toEqual(["a-1"]);
  expect(groupOf(table, balancer, { kind: "instance", name: "b" })).toBe(before.b);
  expect(groupOf(table, balancer, { kind: "instance", name: "c" })).toBe(before.c);
  expect(groupOf(table, balancer, { kind: "model", model: "m2" })).toBe(before.m2);
  expect(table.resolve({ kind: "instance", name: "b" })).toBe(bReplica);
  // The touched groups are new, and hold what is left.
  const a = groupOf(table, balancer, { kind: "instance", name: "a" });
  expect(a).not.toBe(before.a);
  expect(a.replicas.map((r) => r.assignmentId)).toEqual(["a-0"]);
  expect(groupOf(table, balancer, { kind: "model", model: "m1" }).replicas.map((r) => r.assignmentId)).toEqual(["a-0", "c-0"]);
  expect(table.version).toBe(2n);
});

test("applied changes leave the table a replace() of the resulting routes would build", () => {
  const table = new RouteTable();
  table.replace([A0, B0, C0], 1n, [{ instanceName: "d", modelId: "m3", reason: "starting" }]);
  const kept = table.resolve({ kind: "instance", name: "a" });
  const D0 = route("d", 0, "m3", "10.0.0.4:1");
  const movedC0 = { ...C0, node: "n2" };
  table.applyChanges(
    { removed: [B0], upserted: [A1, D0, movedC0], unreadyRemoved: ["d"], unreadyUpserted: [{ instanceName: "b", modelId: "m2", reason: "stopped" }] },
    2n,
  );

  const fresh = new RouteTable();
  fresh.replace([A0, A1, movedC0, D0], 2n, [{ instanceName: "b", modelId: "m2", reason: "stopped" }]);
  expect(table.replicas().map((r) => `${r.assignmentId}@${r.node}`)).toEqual(fresh.replicas().map((r) => `${r.assignmentId}@${r.node}`));
  expect(table.resolve({ kind: "index", index: 2, model: undefined }).assignmentId).toBe(
    fresh.resolve({ kind: "index", index: 2, model: undefined }).assignmentId,
  );
  // An unchanged route keeps its replica (and with it its ejection state and connection).
  expect(table.replicas()).toContain(kept);
  expect(table.usesAddress(B0.address)).toBe(false);
  expect(table.usesAddress(D0.address)).toBe(true);
  // The instance that lost its last route is listed as unready, and says why.
  expect(() => table.resolve({ kind: "instance", name: "b" })).toThrow(/has no ready replica \(stopped\)/);
  expect(() => table.resolve({ kind: "model", model: "m2" })).toThrow(/no ready instance of model "m2": "b" \(stopped\)/);
  expect(table.resolve({ kind: "instance", name: "d" }).assignmentId).toBe("d-0");
});
