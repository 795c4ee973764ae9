import { create, toJsonString } from "@bufbuild/protobuf";
import { snapshotEvent, WatchMirror } from "@tei-fleet/core/watch";
import { ReplicaSchema, RouteSchema, type WatchEvent } from "@tei-fleet/proto/fleet/v1";
import { pino } from "pino";
import { afterEach, expect, it } from "vitest";
import { createScheduler, type Scheduler } from "../src/scheduler/index.ts";
import { FAST, type SchedFixture, schedFixture } from "./sched-fixtures.ts";

// WatchRouteChanges: a snapshot when a router has nothing (or a position the control plane
// cannot continue), then only the changes, each a delta from the router's version; a router
// that reconnects with its position gets only what it missed, from any control plane.
let f: SchedFixture;
const others: Scheduler[] = [];
const aborts: AbortController[] = [];
afterEach(async () => {
  for (const a of aborts.splice(0)) a.abort();
  for (const s of others.splice(0)) await s.stop();
  await f?.close();
});

/** A copy of what a watcher held, to resume from later. */
function copyOf(mirror: WatchMirror): WatchMirror {
  const copy = new WatchMirror();
  copy.apply(snapshotEvent(mirror.epoch, mirror.version, [...mirror.entries()]));
  return copy;
}

/** A watcher as a router runs one, from nothing or from what it held: the events it got, its mirror. */
function watcher(scheduler: Scheduler, held?: WatchMirror) {
  const abort = new AbortController();
  aborts.push(abort);
  const mirror = held ? copyOf(held) : new WatchMirror();
  const stream = scheduler.routes.watchChanges(mirror.position(), abort.signal);
  const events: WatchEvent[] = [];
  return {
    events,
    mirror,
    stop: () => abort.abort(),
    /** Applies events until `check` holds (at most `ms`). */
    async until(check: (m: WatchMirror, e: WatchEvent) => boolean, ms = 5000): Promise<WatchEvent> {
      const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no matching event within ${ms} ms`)), ms).unref());
      for (;;) {
        const next = await Promise.race([stream.next(), deadline]);
        if (next.done) throw new Error("watch ended");
        events.push(next.value);
        mirror.apply(next.value);
        if (check(mirror, next.value)) return next.value;
      }
    },
  };
}

const kind = (e: WatchEvent) => e.kind.case;
/** The route and unready keys a delta names. */
const changed = (e: WatchEvent) =>
  e.kind.case === "delta"
    ? [
        ...e.kind.value.upserted.map(
          (u) => `+${u.value.case}:${u.value.case === "route" || u.value.case === "unreadyInstance" ? u.value.value.instanceName : ""}`,
        ),
        ...e.kind.value.removed.map((k) => `-${k.key.case}`),
      ].sort()
    : [];

/** An instance with one replica on one node, running (routed). */
async function runningInstance(name: string) {
  await f.putInstance({ name });
  const agent = f.agents[0] ?? (await f.addNode({ name: "a", gpusMb: [81920] }));
  await f.until(async () => (await f.scheduler.routes.get()).routes.some((r) => r.instanceName === name));
  return agent;
}

/** A fleet with "emb" running and a watcher that took its snapshot; `held` is a copy of what it holds. */
async function watchingRunningInstance() {
  f = await schedFixture();
  await runningInstance("emb");
  const w = watcher(f.scheduler);
  await w.until(() => true);
  return { w, held: copyOf(w.mirror) };
}

/** Another control plane on the same Redis, serving routes only. */
function anotherControlPlane(): Scheduler {
  const other = createScheduler({ redis: f.redis, keys: f.keys, logger: pino({ level: "silent" }), ...FAST, worker: false, reconciler: false });
  others.push(other);
  return other;
}

it("starts with a snapshot, then sends each change as a delta from the version before it", async () => {
  f = await schedFixture();
  await runningInstance("emb");
  const w = watcher(f.scheduler);
  const first = await w.until(() => true);
  expect(kind(first)).toBe("snapshot");
  expect([...w.mirror.values("route")].map((r) => r.instanceName)).toEqual(["emb"]);

  // A second instance: created (unready), placed, running (its route in, its unready entry out).
  await f.putInstance({ name: "rerank" });
  await f.until(async () => f.scheduler.routes.get().then((t) => t.routes.length === 2));
  await w.until((m) => m.get("route", [...m.keys("route")].find((k) => k.startsWith("rerank")) ?? "") !== undefined && m.size("unreadyInstance") === 0);
  expect(w.events.slice(1).every((e) => kind(e) === "delta" || kind(e) === "keepalive")).toBe(true);
  for (const e of w.events.slice(1)) {
    if (e.kind.case === "delta") expect(e.kind.value.upserted.length + e.kind.value.removed.length).toBeLessThanOrEqual(2);
  }
  // The mirror built from deltas is the table.
  const table = await f.scheduler.routes.get();
  expect(w.mirror.version).toBe(table.version);
  expect([...w.mirror.values("route")].map((r) => r.assignmentId).sort()).toEqual(table.routes.map((r) => r.assignmentId));
});

it("an instance that loses its last route arrives as unready in the same delta, with its reason, never as unknown", async () => {
  f = await schedFixture();
  const agent = await runningInstance("emb");
  const w = watcher(f.scheduler);
  await w.until(() => true);
  const id = [...agent.assignments.keys()][0]!;
  agent.overrides.set(id, "crash_loop");
  await agent.heartbeat();
  const delta = await w.until((m) => m.size("route") === 0);
  expect(changed(delta)).toEqual(["+unreadyInstance:emb", "-route"]);
  expect(w.mirror.get("unreadyInstance", "emb")?.reason).toMatch(/^crash_loop/);
});

it("a reason that changes without any nudge (pending) arrives as a delta of that entry alone", async () => {
  f = await schedFixture({ worker: false, reconciler: false });
  await f.putInstance({ name: "big", gpuMemoryMb: 20_000n });
  const writePending = (reason: string) =>
    f.redis.hset(
      f.keys.replicas("big"),
      "big-0-r1",
      toJsonString(ReplicaSchema, create(ReplicaSchema, { assignmentId: "big-0-r1", revision: 1n, status: "pending", reason })),
    );
  await writePending("insufficient GPU memory on 0/1 eligible nodes");
  const w = watcher(f.scheduler);
  await w.until((m) => m.get("unreadyInstance", "big")?.reason.includes("insufficient") === true);
  const before = w.mirror.version;
  await writePending("no node matches node_selector zone=eu-1");
  const delta = await w.until((m) => m.get("unreadyInstance", "big")?.reason.includes("zone=eu-1") === true, 3000);
  expect(kind(delta)).toBe("delta");
  expect(changed(delta)).toEqual(["+unreadyInstance:big"]);
  expect(delta.version).toBe(before + 1n);
});

it("a router reconnecting with its version gets only the changes it missed, also from a control plane that just started", async () => {
  const { w, held: at } = await watchingRunningInstance();
  w.stop();
  await f.putInstance({ name: "off", desiredState: "stopped" });
  await f.until(async () => (await f.scheduler.routes.get()).unready.some((u) => u.instanceName === "off"));

  const resumed = watcher(f.scheduler, at);
  const first = await resumed.until(() => true);
  expect(kind(first)).toBe("delta");
  expect(changed(first)).toEqual(["+unreadyInstance:off"]);

  // Another control plane on the same Redis knows the same history from the change log.
  const other = anotherControlPlane();
  const elsewhere = watcher(other, at);
  const there = await elsewhere.until(() => true);
  expect(kind(there)).toBe("delta");
  expect(changed(there)).toEqual(["+unreadyInstance:off"]);
  // A router already current gets a keepalive, not the table again.
  const current = watcher(other, resumed.mirror);
  expect(kind(await current.until(() => true))).toBe("keepalive");
});

it("a router further behind than the change log reaches gets a snapshot", async () => {
  const { w, held: at } = await watchingRunningInstance();
  await f.putInstance({ name: "off", desiredState: "stopped" });
  // putInstance writes no nudge; a full read reconciles the unready entries at once.
  await f.scheduler.routes.get();
  await w.until((m) => m.get("unreadyInstance", "off") !== undefined);
  // The log is capped; here it is trimmed past the router's version by hand.
  await f.redis.xtrim(f.keys.routesLog(), "MAXLEN", 0);
  const behind = watcher(anotherControlPlane(), at);
  const first = await behind.until(() => true);
  expect(kind(first)).toBe("snapshot");
  expect(first.kind.case === "snapshot" && first.kind.value.epoch).toBe(at.epoch);
});

it("after Redis is flushed (a new history) watchers get a snapshot of a new epoch, and old positions are not resumed", async () => {
  const { w, held: old } = await watchingRunningInstance();
  // Every key of this fleet gone, as after FLUSHALL; the agents' heartbeats rebuild nothing.
  const keys = await f.redis.keys(`${f.keys.prefix}:*`);
  await f.redis.del(...keys);
  const snapshot = await w.until((_m, e) => kind(e) === "snapshot");
  expect(snapshot.kind.case === "snapshot" && snapshot.kind.value.epoch).not.toBe(old.epoch);
  expect(w.mirror.size("route")).toBe(0);

  const late = watcher(f.scheduler, old);
  expect(kind(await late.until(() => true))).toBe("snapshot");
});

it("a version that goes back under the same epoch starts a new epoch: a snapshot, never a silent gap", async () => {
  const { w, held: old } = await watchingRunningInstance();
  await f.redis.set(f.keys.routesVersion(), "1");
  const snapshot = await w.until((_m, e) => kind(e) === "snapshot");
  expect(snapshot.kind.case === "snapshot" && snapshot.kind.value.epoch).not.toBe(old.epoch);
  expect([...w.mirror.values("route")].map((r) => r.instanceName)).toEqual(["emb"]);
});

it("a route written without a change-log entry (an older control plane) is found and sent as a delta", async () => {
  f = await schedFixture({ worker: false, reconciler: false });
  const w = watcher(f.scheduler);
  await w.until(() => true);
  const route = create(RouteSchema, { assignmentId: "old-0-r1", instanceName: "old", modelId: "m", node: "n", address: "10.0.0.9:1" });
  await f.redis
    .multi()
    .hset(f.keys.routes(), "old-0-r1", toJsonString(RouteSchema, route))
    .incr(f.keys.routesVersion())
    .publish(f.keys.changesChannel(), "routes")
    .exec();
  const delta = await w.until((m) => m.get("route", "old-0-r1") !== undefined);
  expect(kind(delta)).toBe("delta");
  expect(w.mirror.get("route", "old-0-r1")?.address).toBe("10.0.0.9:1");
});

it("a route carries its instance's --pooling (the gateway's /info answers it; gRPC's Info lacks it)", async () => {
  f = await schedFixture();
  await f.putInstance({ name: "pooled", pooling: "mean" });
  await runningInstance("plain");
  const w = watcher(f.scheduler);
  const routesOf = (m: WatchMirror) => [...m.entries()].flatMap((e) => (e.value.case === "route" ? [e.value.value] : []));
  await w.until((m) => routesOf(m).length === 2);
  const routes = routesOf(w.mirror);
  expect(Object.fromEntries(routes.map((r) => [r.instanceName, r.pooling]))).toEqual({ pooled: "mean", plain: "" });
});
