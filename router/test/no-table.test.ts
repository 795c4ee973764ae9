/**
 * Issue 9, defect 3: a router that has not received a route table yet (restarted while the
 * control plane is down) cannot know whether an instance exists, so it answers UNAVAILABLE
 * (retry, elsewhere) and not NOT_FOUND (do not retry), and is not ready for a load balancer.
 */

import { Code, ConnectError } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus } from "@tei-fleet/proto/grpc/health/v1";
import { Embed } from "@tei-fleet/proto/tei/v1";
import { TeiMultiplexer } from "@tei-fleet/proto/tei_multiplexer/v1";
import { afterAll, beforeAll, expect, test } from "vitest";
import { freePort } from "../../test/harness/free-port.ts";
import { FakeControlPlane, JOIN_TOKEN } from "./support/fake-control-plane.ts";
import { type RunningRouter, startWatchingRouter } from "./support/router-fixture.ts";
import { startTestBackend, type TestBackend } from "./support/tei-backend.ts";
import { until } from "./support/until.ts";

const BGE = "BAAI/bge-small-en-v1.5";
let backend: TestBackend;
let cp: FakeControlPlane;
let fx: RunningRouter;

beforeAll(async () => {
  backend = await startTestBackend("a");
  // Not started yet: the router's watch finds nothing listening.
  cp = new FakeControlPlane(await freePort());
  cp.publish(1, [{ name: "a", address: backend.address, modelId: BGE }]);
  fx = await startWatchingRouter(`http://127.0.0.1:${cp.port}`, JOIN_TOKEN);
});
afterAll(async () => {
  await fx?.close();
  await cp?.stop();
  await backend?.close();
});

const readyz = async (): Promise<number> => (await fetch(`http://127.0.0.1:${fx.metricsPort}/readyz`)).status;
/** The router's own gRPC health, as a load balancer's gRPC check asks it. */
const grpcHealth = async () => (await fx.client(Health).check({})).status;

async function embedError(headers: Record<string, string>): Promise<ConnectError | "ok"> {
  try {
    await fx.client(Embed).embed({ inputs: "x" }, { headers });
    return "ok";
  } catch (e) {
    return ConnectError.from(e);
  }
}

test("before its first route table every routed call is UNAVAILABLE and /readyz is 503", async () => {
  const unavailable = { code: Code.Unavailable, rawMessage: "route table not yet received" };
  expect(await embedError({ "x-tei-instance": "a" })).toMatchObject(unavailable);
  expect(await embedError({ "x-tei-model": BGE })).toMatchObject(unavailable);
  expect(await embedError({ "x-tei-index": "0" })).toMatchObject(unavailable);
  await expect(fx.client(TeiMultiplexer).embed({ target: { routing: { case: "instanceName", value: "a" } }, request: { inputs: "x" } })).rejects.toMatchObject(
    unavailable,
  );
  // A call without a target is the caller's mistake with or without a table.
  expect(await embedError({})).toMatchObject({ code: Code.InvalidArgument });
  expect(await readyz()).toBe(503);
  expect(await grpcHealth()).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
  expect((await fetch(`http://127.0.0.1:${fx.metricsPort}/healthz`)).status).toBe(200);
});

test("once the table arrives it serves and /readyz is 200", async () => {
  await cp.start();
  await until(() => fx.router.table.loaded, 15_000);
  expect(await embedError({ "x-tei-instance": "a" })).toBe("ok");
  expect(await readyz()).toBe(200);
  expect(await grpcHealth()).toBe(HealthCheckResponse_ServingStatus.SERVING);
  // Now the table can tell: an instance it does not list does not exist.
  expect(await embedError({ "x-tei-instance": "nope" })).toMatchObject({ code: Code.NotFound });
});
