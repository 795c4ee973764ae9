/**
 * TEI's own RESOURCE_EXHAUSTED (its `max_concurrent_requests` taken) from one replica: the call
 * moves to another replica with room instead of failing, and the full replica stays in rotation;
 * with no other replica the status is passed on. Also what the attempt reads from answers for
 * admission: TEI's token count (charged to a key's tokens-per-minute) beside the fleet queue time.
 */
import { createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Embed, EmbedRequestSchema } from "@tei-fleet/proto/tei/v1";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type AttemptContext, BackendAttempt, BackendPool, METHODS, type MethodSpec, OutlierDetector, RouteTable } from "../../src/index.ts";
import { frame, rawCall, rawSession } from "../support/raw-client.ts";
import { type RouterFixture, route, startRouter } from "../support/router-fixture.ts";

const MODEL = "BAAI/bge-small-en-v1.5";

/** A TEI stand-in whose Embed answers TEI's overload status while `full`, and counts tokens like TEI. */
async function startTei(): Promise<{ address: string; full: boolean; calls: number; close(): Promise<void> }> {
  const state = { full: false, calls: 0 };
  const routes = (router: ConnectRouter): void => {
    router.service(Embed, {
      embed(r, ctx) {
        state.calls++;
        if (state.full) throw new ConnectError("Model is overloaded", Code.ResourceExhausted);
        ctx.responseHeader.set("x-compute-tokens", String(r.inputs.split(" ").length));
        return { embeddings: [1, 2, 3] };
      },
    });
  };
  const server: Http2Server = createServer(connectNodeAdapter({ routes }));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(state, {
    address,
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}

let full: Awaited<ReturnType<typeof startTei>>;
let roomy: Awaited<ReturnType<typeof startTei>>;
let fx: RouterFixture;

beforeAll(async () => {
  full = await startTei();
  roomy = await startTei();
  full.full = true;
  fx = await startRouter([
    route("full", full.address, { modelId: MODEL }),
    route("roomy", roomy.address, { modelId: MODEL }),
    route("lonely", full.address, { modelId: "other/model", assignmentId: "lonely-a" }),
  ]);
});
afterAll(async () => {
  await fx?.close();
  await full?.close();
  await roomy?.close();
});

const EMBED = frame(toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs: "three word text" })));

test("a call refused by a full replica is served by another with room, and the full one stays in rotation", async () => {
  const session = rawSession(fx.port);
  try {
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await rawCall(session, "/tei.v1.Embed/Embed", [EMBED], { "x-tei-model": MODEL }));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(0));
    expect(answers.every((a) => a.headers["x-tei-instance"] === "roomy")).toBe(true);
    // The full replica was not ejected: round-robin kept offering it (every call, as its retry
    // moves the cursor too), and each time the call moved on.
    expect(full.calls).toBeGreaterThanOrEqual(5);
    expect(fx.router.table.replicas().find((r) => r.instanceName === "full")?.ejectedUntil).toBe(0);
    expect(answers[0]?.headers["x-fleet-queue-time"]).toBe("0");
  } finally {
    session.close();
  }
});

test("with no other replica, TEI's RESOURCE_EXHAUSTED is the answer", async () => {
  const session = rawSession(fx.port);
  try {
    const res = await rawCall(session, "/tei.v1.Embed/Embed", [EMBED], { "x-tei-model": "other/model" });
    expect([res.status, res.message]).toEqual([Code.ResourceExhausted, "Model is overloaded"]);
  } finally {
    session.close();
  }
});

test("the attempt notes TEI's token count for a call that asks, and stamps the fleet queue time", async () => {
  const pool = new BackendPool(pino({ level: "silent" }));
  const table = new RouteTable();
  table.replace([route("roomy", roomy.address, { modelId: MODEL })], 1n);
  const ctx: AttemptContext = { table, pool, outliers: new OutlierDetector({ consecutiveFailures: 2 }), metrics: { retried() {} } };
  const account = { queueMs: 12.4, computeTokens: 0 };
  try {
    const got = await new Promise<string[]>((resolve, reject) => {
      const a = new BackendAttempt(
        ctx,
        METHODS.get("/tei.v1.Embed/Embed") as MethodSpec,
        ["content-type", "application/grpc"],
        performance.now(),
        {
          onAttemptHeaders() {},
          onAttemptData: () => true,
          onAttemptDrain() {},
          onAttemptEnd: (headers) => resolve(headers ?? []),
          onAttemptError: reject,
        },
        account,
      );
      a.route({ kind: "instance", name: "roomy" });
      a.sendUnary(EMBED);
    });
    expect(account.computeTokens).toBe(3);
    expect(got[got.indexOf("x-fleet-queue-time") + 1]).toBe("12");
  } finally {
    pool.closeAll(true);
  }
});
