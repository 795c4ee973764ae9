/**
 * Admission steps added to a running router (RouterDeps.admission), the way the API key, rate
 * limit and queue of later issues will be: a sync refusal, an async wait, a refusal after a wait,
 * a client that leaves while its call waits, and the end hook a queue step frees its slot with.
 */

import type { ClientHttp2Session } from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Embed, EmbedRequestSchema } from "@tei-fleet/proto/tei/v1";
import { afterAll, beforeAll, beforeEach, expect, test } from "vitest";
import { headerValue } from "../../src/h2/index.ts";
import { type AdmissionStep, GrpcStatus, onCallEnd, RouterError } from "../../src/index.ts";
import { frame, rawCall, rawSession } from "../support/raw-client.ts";
import { metric, type RouterFixture, route, startRouter } from "../support/router-fixture.ts";
import { startTestBackend, type TestBackend } from "../support/tei-backend.ts";
import { until } from "../support/until.ts";

const ends: number[] = [];

/** Refuses calls without `x-api-key: k`, synchronously. */
const apiKey: AdmissionStep = (call) =>
  headerValue(call.headers, "x-api-key") === "k" ? undefined : new RouterError(GrpcStatus.UNAUTHENTICATED, "missing API key");

/** Holds a call `x-wait` ms, then admits it (or refuses it with `x-refuse`); notes every end. */
const queue: AdmissionStep = (call) => {
  onCallEnd(call, (code) => ends.push(code));
  const wait = headerValue(call.headers, "x-wait");
  if (wait === undefined) return undefined;
  const refuse = headerValue(call.headers, "x-refuse") !== undefined;
  return new Promise((resolve) => setTimeout(() => resolve(refuse ? new RouterError(GrpcStatus.RESOURCE_EXHAUSTED, "queue full") : undefined), Number(wait)));
};

let backend: TestBackend;
let fx: RouterFixture;
let session: ClientHttp2Session;
const toA = { "x-tei-instance": "a", "x-api-key": "k" };

beforeAll(async () => {
  backend = await startTestBackend("a");
  fx = await startRouter([route("a", backend.address)], {}, { admission: [apiKey, queue] });
  session = rawSession(fx.port);
});
afterAll(async () => {
  session?.close();
  await fx?.close();
  await backend?.close();
});
beforeEach(() => {
  ends.length = 0;
});

const embeds = (): number => backend.calls.get("Embed") ?? 0;

/** The error a call ended with (fails the test when it was answered). */
function failure(call: Promise<unknown>): Promise<ConnectError> {
  return call.then(
    () => {
      throw new Error("the call was answered");
    },
    (e: unknown) => ConnectError.from(e),
  );
}

test("a step's refusal is the answer, and the call never reaches a backend", async () => {
  const before = embeds();
  const err = await failure(fx.client(Embed).embed({ inputs: "x" }, { headers: { "x-tei-instance": "a" } }));
  expect(err).toMatchObject({ code: Code.Unauthenticated, rawMessage: "missing API key" });
  expect(embeds()).toBe(before);
  expect(ends).toEqual([]); // refused before the queue step
});

test("a call an async step holds is forwarded once admitted, and its end reaches the step", async () => {
  const t0 = performance.now();
  const r = await fx.client(Embed).embed({ inputs: "held" }, { headers: { ...toA, "x-wait": "60" } });
  expect(r.embeddings).toHaveLength(8);
  expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
  expect(ends).toEqual([GrpcStatus.OK]);
});

test("a stream's messages sent while it waits all arrive, in order", async () => {
  async function* three() {
    for (const inputs of ["one", "two", "three"]) yield { inputs };
  }
  const got: number[][] = [];
  for await (const m of fx.client(Embed).embedStream(three(), { headers: { ...toA, "x-wait": "40" } })) got.push(m.embeddings);
  const direct = await Promise.all(["one", "two", "three"].map((inputs) => fx.client(Embed).embed({ inputs }, { headers: toA })));
  expect(got).toEqual(direct.map((d) => d.embeddings));
});

test("a refusal after a wait is the answer, with the held request dropped", async () => {
  const before = embeds();
  const body = frame(toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs: "x" })));
  const res = await rawCall(session, "/tei.v1.Embed/Embed", [body], { ...toA, "x-wait": "30", "x-refuse": "1" });
  expect(res.status).toBe(Code.ResourceExhausted);
  expect(res.message).toBe("queue full");
  expect(embeds()).toBe(before);
  expect(ends).toEqual([GrpcStatus.RESOURCE_EXHAUSTED]);
  expect(await metric(fx, 'tei_router_requests_total{method="tei.v1.Embed/Embed",model="",instance="",code="RESOURCE_EXHAUSTED"}')).toBe(1);
});

test("a client that leaves while its call waits is CANCELLED for the steps, and nothing is forwarded", async () => {
  const before = embeds();
  const err = await failure(fx.client(Embed).embed({ inputs: "x" }, { headers: { ...toA, "x-wait": "150" }, signal: AbortSignal.timeout(30) }));
  expect(err.code).toBe(Code.Canceled);
  await until(() => ends.length === 1);
  expect(ends).toEqual([GrpcStatus.CANCELLED]);
  expect(embeds()).toBe(before);
});

test("the router's own health check does not pass the added steps", async () => {
  const res = await rawCall(session, "/grpc.health.v1.Health/Check", [frame(new Uint8Array())]);
  expect(res.status).toBe(0);
  expect([...res.body]).toEqual([0, 0, 0, 0, 2, 0x08, 0x01]);
});
