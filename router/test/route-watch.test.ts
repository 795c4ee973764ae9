import { Code } from "@connectrpc/connect";
import { Embed } from "@tei-fleet/proto/tei/v1";
import { afterAll, beforeAll, expect, test } from "vitest";
import { freePort } from "../../test/harness/free-port.ts";
import type { Router } from "../src/index.ts";
import { FakeControlPlane, JOIN_TOKEN } from "./support/fake-control-plane.ts";
import { type RunningRouter, startWatchingRouter } from "./support/router-fixture.ts";
import { startTestBackend, type TestBackend } from "./support/tei-backend.ts";
import { until } from "./support/until.ts";

let cp: FakeControlPlane;
let fx: RunningRouter;
let router: Router;
let a: TestBackend;
let b: TestBackend;

beforeAll(async () => {
  [a, b] = await Promise.all([startTestBackend("a"), startTestBackend("b")]);
  cp = new FakeControlPlane(await freePort());
  cp.publish(1, [{ name: "a", address: a.address }]);
  await cp.start();
  fx = await startWatchingRouter(`http://127.0.0.1:${cp.port}`, JOIN_TOKEN, { ejectAfterFailures: 1, watchIdleTimeoutMs: 1500, shutdownGraceMs: 100 });
  router = fx.router;
});
afterAll(async () => {
  await fx?.close();
  await cp?.stop();
  await Promise.all([a?.close(), b?.close()]);
});

const embed = (instance: string) => fx.client(Embed).embed({ inputs: "x" }, { headers: { "x-tei-instance": instance } });

test("the route table follows the control plane's watch, with the join token", async () => {
  await until(() => router.table.version === 1n);
  expect((await embed("a")).embeddings).toHaveLength(8);
  cp.publish(2, [
    { name: "a", address: a.address },
    { name: "b", address: b.address },
  ]);
  await until(() => router.table.version === 2n);
  expect((await embed("b")).embeddings).toHaveLength(8);
  cp.publish(3, [{ name: "b", address: b.address }]);
  await until(() => router.table.version === 3n);
  await expect(embed("a")).rejects.toMatchObject({ code: Code.NotFound });
  expect(cp.badAuth).toBe(0);
});

test("keeps serving from its last table while the control plane is away, and resyncs on reconnect", async () => {
  const calls = cp.watchCalls;
  await cp.stop();
  expect((await embed("b")).embeddings).toHaveLength(8);
  // The table changed while the router was disconnected; it gets the full table on reconnect.
  cp.publish(7, [{ name: "a", address: a.address }]);
  await cp.start();
  await until(() => router.table.version === 7n, 10_000);
  expect(cp.watchCalls).toBeGreaterThan(calls);
  expect((await embed("a")).embeddings).toHaveLength(8);
  await expect(embed("b")).rejects.toMatchObject({ code: Code.NotFound });
});

test("a watch that falls silent is dropped and reopened", async () => {
  // The fake control plane sends nothing while the table is unchanged (no keepalive).
  const calls = cp.watchCalls;
  await until(() => cp.watchCalls > calls, 5000);
});

test("an ejected backend is reported to the control plane by assignment id", async () => {
  const dead = `127.0.0.1:${await freePort()}`;
  cp.publish(8, [{ name: "dead", address: dead }]);
  await until(() => router.table.version === 8n);
  await expect(embed("dead")).rejects.toMatchObject({ code: Code.Unavailable });
  await until(() => cp.reports.length === 1);
  expect(cp.reports[0]!.assignmentId).toBe("dead-asg");
  expect(cp.reports[0]!.reason).toContain("ECONNREFUSED");
  // Named, so that the control plane can count distinct routers toward its quorum.
  expect(cp.reports[0]!.routerId).toMatch(/^.+\/\d+\/[0-9a-f]{6}$/);
});
