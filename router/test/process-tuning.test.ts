import { afterEach, expect, it } from "vitest";
import { collectStartupGarbage } from "../src/process-tuning.ts";
import { type RouterFixture, route, startRouter } from "./support/router-fixture.ts";

let fx: RouterFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

it("tells its owner once, when its first route table makes it ready, and not again on later tables", async () => {
  let calls = 0;
  fx = await startRouter([route("emb", "127.0.0.1:1")], {}, { onReady: () => calls++ });
  expect(fx.router.table.loaded).toBe(true);
  expect(calls).toBe(1);
  await fx.setRoutes([route("emb", "127.0.0.1:2")]);
  await fx.setRoutes([]);
  expect(calls).toBe(1);
});

it("collects start-up garbage with a full collection, leaving no `gc` global behind", async () => {
  let target: object | undefined = { payload: new Array(1000).fill("start-up") };
  const ref = new WeakRef(target);
  target = undefined;
  // A WeakRef keeps its target alive until the job that made it ends.
  await new Promise((resolve) => setTimeout(resolve, 0));
  const pauseMs = collectStartupGarbage();
  expect(pauseMs).toBeGreaterThanOrEqual(0);
  expect(pauseMs).toBeLessThan(5_000);
  expect(ref.deref()).toBeUndefined();
  expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
});
