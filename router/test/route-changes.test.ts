import { deltaEvent } from "@tei-fleet/core/watch";
import { afterAll, beforeAll, expect, test } from "vitest";
import { freePort } from "../../test/harness/free-port.ts";
import { GrpcStatus, type Router, RouterError } from "../src/index.ts";
import { FakeControlPlane, JOIN_TOKEN } from "./support/fake-control-plane.ts";
import { type RunningRouter, startWatchingRouter } from "./support/router-fixture.ts";
import { until } from "./support/until.ts";

// The router follows the route table over WatchRouteChanges: a snapshot first, then deltas; it
// resumes from its version after a reconnect and takes a snapshot whenever the control plane
// cannot continue its history.
let cp: FakeControlPlane;
let fx: RunningRouter;
let router: Router;

beforeAll(async () => {
  cp = new FakeControlPlane(await freePort());
  cp.publish(1, [{ name: "a", address: "10.0.0.1:1" }], [{ instanceName: "b", reason: "pending: no node fits" }]);
  await cp.start();
  fx = await startWatchingRouter(`http://127.0.0.1:${cp.port}`, JOIN_TOKEN, { shutdownGraceMs: 100 });
  router = fx.router;
});
afterAll(async () => {
  await fx?.close();
  await cp?.stop();
});

const addresses = () => router.table.replicas().map((r) => `${r.instanceName}@${r.address}`);
/** The gRPC status a call for the instance would get from the table, or "ok". */
const statusOf = (name: string) => {
  try {
    router.table.resolve({ kind: "instance", name });
    return "ok";
  } catch (err) {
    return err instanceof RouterError ? err.code : "?";
  }
};

test("takes a snapshot first, then follows deltas: routes added, changed and removed, unready entries too", async () => {
  await until(() => router.table.version === 1n);
  expect(cp.sent).toEqual(["snapshot"]);
  expect(cp.positions).toEqual([""]);
  expect(addresses()).toEqual(["a@10.0.0.1:1"]);
  expect(statusOf("b")).toBe(GrpcStatus.UNAVAILABLE);

  // b becomes ready (its unready entry goes, its route comes), a moves to another address.
  cp.publish(2, [
    { name: "a", address: "10.0.0.1:2" },
    { name: "b", address: "10.0.0.2:1" },
  ]);
  await until(() => router.table.version === 2n);
  expect(addresses()).toEqual(["a@10.0.0.1:2", "b@10.0.0.2:1"]);
  // a is gone: its route removed, nothing else.
  cp.publish(3, [{ name: "b", address: "10.0.0.2:1" }]);
  await until(() => router.table.version === 3n);
  expect(addresses()).toEqual(["b@10.0.0.2:1"]);
  expect(statusOf("a")).toBe(GrpcStatus.NOT_FOUND);
  expect(cp.sent).toEqual(["snapshot", "delta", "delta"]);
});

test("keeps its table while the control plane is away, and resumes from its version with only what it missed", async () => {
  await cp.stop();
  cp.publish(4, [{ name: "b", address: "10.0.0.2:1" }], [{ instanceName: "c", reason: "starting" }]);
  cp.publish(
    5,
    [
      { name: "b", address: "10.0.0.2:1" },
      { name: "d", address: "10.0.0.4:1" },
    ],
    [{ instanceName: "c", reason: "crash_loop: exited 1" }],
  );
  await new Promise((r) => setTimeout(r, 300));
  // Still serving what it had.
  expect(router.table.version).toBe(3n);
  expect(statusOf("b")).toBe("ok");
  const sent = cp.sent.length;
  await cp.start();
  await until(() => router.table.version === 5n, 10_000);
  expect(cp.positions.at(-1)).toBe("epoch-1/3");
  expect(cp.sent.slice(sent)).toEqual(["delta"]);
  expect(addresses()).toEqual(["b@10.0.0.2:1", "d@10.0.0.4:1"]);
  expect(statusOf("c")).toBe(GrpcStatus.UNAVAILABLE);
});

test("takes a snapshot when the control plane's history started again (Redis flushed), even at a lower version", async () => {
  await cp.stop();
  cp.restartHistory("epoch-2");
  cp.publish(1, [{ name: "e", address: "10.0.0.5:1" }]);
  const sent = cp.sent.length;
  await cp.start();
  await until(() => router.table.version === 1n, 10_000);
  expect(cp.positions.at(-1)).toBe("epoch-1/5");
  expect(cp.sent.slice(sent)).toEqual(["snapshot"]);
  expect(addresses()).toEqual(["e@10.0.0.5:1"]);
  expect(statusOf("b")).toBe(GrpcStatus.NOT_FOUND);
});

test("a delta that does not start at its version is refused and answered by a snapshot, never applied", async () => {
  await until(() => cp.watchers.size === 1);
  const calls = cp.watchCalls;
  // A delta from a version the router never had: applying it would leave the table wrong.
  cp.injectEvent(deltaEvent(40n, 41n, [], []));
  await until(() => cp.watchCalls > calls, 10_000);
  await until(() => cp.sent.at(-1) === "snapshot");
  expect(cp.positions.at(-1)).toBe("");
  expect(router.table.version).toBe(1n);
  expect(addresses()).toEqual(["e@10.0.0.5:1"]);
});
