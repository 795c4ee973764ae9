import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestBackend, type TestBackend } from "../support/tei-backend.ts";
import { type GatewayFixture, post, route, startGateway } from "./gateway-fixture.ts";

let a: TestBackend;
let b: TestBackend;
let fx: GatewayFixture;

beforeAll(async () => {
  [a, b] = await Promise.all([startTestBackend("a"), startTestBackend("b")]);
  fx = await startGateway([route("a", a.address, { assignmentId: "a" }), route("b", b.address, { assignmentId: "b", replica: 1 })]);
}, 30_000);
afterAll(async () => {
  await fx?.close();
  await Promise.all([a?.close(), b?.close()]);
});

describe("what the gateway passes to TEI and how it answers the fleet's state", () => {
  test("a W3C traceparent (and tracestate) reaches TEI as metadata; a malformed one is dropped", async () => {
    const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for (let i = 0; i < 2; i++) expect((await post(`${fx.http}/embed`, { inputs: "hi" }, { traceparent: tp, tracestate: "k=v" })).status).toBe(200);
    expect(a.lastHeaders?.get("traceparent")).toBe(tp);
    expect(b.lastHeaders?.get("traceparent")).toBe(tp);
    expect(a.lastHeaders?.get("tracestate")).toBe("k=v");
    for (let i = 0; i < 2; i++) await post(`${fx.http}/embed`, { inputs: "hi" }, { traceparent: "garbage" });
    expect(a.lastHeaders?.get("traceparent")).toBeNull();
  });

  test("a client that leaves is counted as 499 and its calls are cancelled; the next request is served", async () => {
    a.delayMs = 3000;
    b.delayMs = 3000;
    try {
      const gone = await fetch(`${fx.http}/embed`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ inputs: ["a", "b", "c", "d"] }),
        signal: AbortSignal.timeout(200),
      }).catch((e: unknown) => e);
      expect(gone).toBeInstanceOf(Error);
    } finally {
      a.delayMs = 0;
      b.delayMs = 0;
    }
    await new Promise((r) => setTimeout(r, 100));
    const metrics = await (await fetch(`${fx.http}/metrics`)).text();
    expect(metrics).toMatch(/tei_gateway_requests_total\{route="\/embed",model="BAAI\/bge-small-en-v1.5",status="499"\} 1/);
    expect((await post(`${fx.http}/embed`, { inputs: "next" })).status).toBe(200);
  });

  test("a replica answering UNAVAILABLE is retried on the other; with both down, 503 + Retry-After in each family's shape", async () => {
    a.unavailable = true;
    for (let i = 0; i < 4; i++) expect((await post(`${fx.http}/v1/embeddings`, { input: "x" })).status).toBe(200);
    b.unavailable = true;
    const o = await post(`${fx.http}/v1/embeddings`, { input: "x" });
    expect(o.status).toBe(503);
    expect(o.headers.get("retry-after")).toBe("1");
    expect(o.headers.get("retry-after-ms")).toBe("1000");
    expect(o.body.error.type).toBe("server_error");
    const t = await post(`${fx.http}/embed`, { inputs: "x" });
    expect(t.status).toBe(503);
    expect(t.body.error_type).toBe("Unhealthy");
    a.unavailable = false;
    b.unavailable = false;
  });
});
