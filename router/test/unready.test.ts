import { Code, ConnectError } from "@connectrpc/connect";
import { Embed } from "@tei-fleet/proto/tei/v1";
import { TeiMultiplexer } from "@tei-fleet/proto/tei_multiplexer/v1";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type RouterFixture, route, startRouter } from "./support/router-fixture.ts";
import { startTestBackend, type TestBackend } from "./support/tei-backend.ts";

// Issue 6, "Errors": NOT_FOUND for an unknown instance or model, UNAVAILABLE when the instance or
// model exists but has no ready replica (the table's `unready` list).
const BGE = "BAAI/bge-small-en-v1.5";
const E5 = "intfloat/e5-small-v2";
let a: TestBackend;
let fx: RouterFixture;

beforeAll(async () => {
  a = await startTestBackend("a");
  fx = await startRouter([]);
  await fx.setRoutes([route("bge-1", a.address, { modelId: BGE })], undefined, [
    { instanceName: "bge-2", modelId: BGE, reason: "starting" },
    { instanceName: "e5", modelId: E5, reason: "pending: insufficient GPU memory on 0/2 eligible nodes" },
    { instanceName: "e5-b", modelId: E5, reason: "stopped" },
  ]);
});
afterAll(async () => {
  await fx?.close();
  await a?.close();
});

async function failure(headers: Record<string, string>): Promise<ConnectError | "ok"> {
  try {
    await fx.client(Embed).embed({ inputs: "x" }, { headers });
    return "ok";
  } catch (e) {
    return ConnectError.from(e);
  }
}

test("an instance that exists but is not ready is UNAVAILABLE, naming it and its status", async () => {
  expect(await failure({ "x-tei-instance": "e5" })).toMatchObject({
    code: Code.Unavailable,
    rawMessage: 'instance "e5" has no ready replica (pending: insufficient GPU memory on 0/2 eligible nodes)',
  });
  const mux = fx.client(TeiMultiplexer);
  await expect(mux.embed({ target: { routing: { case: "instanceName", value: "e5-b" } }, request: { inputs: "x" } })).rejects.toMatchObject({
    code: Code.Unavailable,
    rawMessage: expect.stringContaining("stopped"),
  });
});

test("a model whose instances all exist but none is ready is UNAVAILABLE, listing them", async () => {
  const err = await failure({ "x-tei-model": E5 });
  expect(err).toMatchObject({ code: Code.Unavailable });
  expect((err as ConnectError).rawMessage).toBe(
    `no ready instance of model "${E5}": "e5" (pending: insufficient GPU memory on 0/2 eligible nodes), "e5-b" (stopped)`,
  );
  expect(await failure({ "x-tei-model": E5, "x-tei-index": "0" })).toMatchObject({ code: Code.Unavailable });
});

test("a model with one ready instance is served even though another of its instances is unready", async () => {
  expect(await failure({ "x-tei-model": BGE })).toBe("ok");
  expect(await failure({ "x-tei-instance": "bge-1" })).toBe("ok");
  expect(await failure({ "x-tei-instance": "bge-2" })).toMatchObject({ code: Code.Unavailable, rawMessage: expect.stringContaining("starting") });
});

test("unknown instances and models stay NOT_FOUND", async () => {
  expect(await failure({ "x-tei-instance": "nope" })).toMatchObject({ code: Code.NotFound });
  expect(await failure({ "x-tei-model": "no/such-model" })).toMatchObject({ code: Code.NotFound });
});

test("an instance that becomes ready leaves the unready list; one deleted becomes NOT_FOUND", async () => {
  await fx.setRoutes([route("bge-1", a.address, { modelId: BGE }), route("e5", a.address, { modelId: E5, assignmentId: "e5-a" })], undefined, [
    { instanceName: "bge-2", modelId: BGE, reason: "starting" },
  ]);
  expect(await failure({ "x-tei-instance": "e5" })).toBe("ok");
  expect(await failure({ "x-tei-instance": "e5-b" })).toMatchObject({ code: Code.NotFound });
  // A table without the optional list: nothing is unready any more.
  await fx.setRoutes([route("bge-1", a.address, { modelId: BGE })]);
  expect(await failure({ "x-tei-instance": "bge-2" })).toMatchObject({ code: Code.NotFound });
});
