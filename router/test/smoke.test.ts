import { afterAll, beforeAll, expect, test } from "vitest";
import { Embed } from "@tei-fleet/proto/tei/v1";
import { TeiMultiplexer } from "@tei-fleet/proto/tei_multiplexer/v1";
import { startTestBackend, type TestBackend } from "./support/tei-backend.ts";
import { route, startRouter, type RouterFixture } from "./support/router-fixture.ts";

let backend: TestBackend;
let fx: RouterFixture;
beforeAll(async () => {
  backend = await startTestBackend("a");
  fx = await startRouter([route("a", backend.address, { node: "gpu-1" })]);
});
afterAll(async () => {
  await fx?.close();
  await backend?.close();
});

test("plain Embed routed by x-tei-instance", async () => {
  let headers: Headers | undefined;
  const res = await fx.client(Embed).embed({ inputs: "hello" }, { headers: { "x-tei-instance": "a" }, onHeader: (h) => (headers = h) });
  expect(res.embeddings).toHaveLength(8);
  expect(headers?.get("x-tei-instance")).toBe("a");
  expect(headers?.get("x-tei-node")).toBe("gpu-1");
});

test("mux Embed routed by Target.instance_name", async () => {
  const res = await fx.client(TeiMultiplexer).embed({ target: { routing: { case: "instanceName", value: "a" } }, request: { inputs: "hello" } });
  expect(res.embeddings).toHaveLength(8);
});
