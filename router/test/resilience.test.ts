import { createServer as createH2Server, constants as h2constants } from "node:http2";
import { type AddressInfo, createServer as createTcpServer, connect as netConnect, type Socket } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Embed, EmbedRequestSchema } from "@tei-fleet/proto/tei/v1";
import { TeiMultiplexer } from "@tei-fleet/proto/tei_multiplexer/v1";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { freePort } from "../../test/harness/free-port.ts";
import { type FakeTeiProcess, startFakeTei } from "./support/fake-tei.ts";
import { frame, rawSession } from "./support/raw-client.ts";
import { metric, type RouterFixture, route, startRouter } from "./support/router-fixture.ts";
import { startTestBackend, type TestBackend } from "./support/tei-backend.ts";
import { until } from "./support/until.ts";

const BGE = "BAAI/bge-small-en-v1.5";

describe("an instance killed mid-traffic", () => {
  let teis: FakeTeiProcess[] = [];
  let fx: RouterFixture;
  beforeAll(async () => {
    teis = await Promise.all([startFakeTei(), startFakeTei()]);
    fx = await startRouter([route("bge-1", teis[0]!.address, { node: "node-1" }), route("bge-2", teis[1]!.address, { node: "node-2" })]);
  });
  afterAll(async () => {
    await fx?.close();
    await Promise.all(teis.map((t) => t.kill("SIGKILL")));
  });

  test("unary calls to its model keep succeeding through retries, and it gets ejected", async () => {
    const client = fx.client(Embed);
    let ok = 0;
    const failures: string[] = [];
    let killed = false;
    const worker = async (): Promise<void> => {
      for (let i = 0; i < 60; i++) {
        try {
          const r = await client.embed({ inputs: `text ${i}` }, { headers: { "x-tei-model": BGE }, timeoutMs: 10_000 });
          if (r.embeddings.length === 384) ok++;
        } catch (e) {
          failures.push(ConnectError.from(e).message);
        }
        if (i === 5 && !killed) {
          killed = true;
          await teis[0]!.kill("SIGKILL");
        }
      }
    };
    // Eight callers keep calls in flight at the moment of the kill, on every stage of a call.
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(failures).toEqual([]);
    expect(ok).toBe(480);
    expect(await metric(fx, "tei_router_retries_total")).toBeGreaterThan(0);
    expect(await metric(fx, "tei_router_ejections_total")).toBe(1);
    expect(fx.router.table.replicas().find((r) => r.instanceName === "bge-1")?.ejectedUntil).toBeGreaterThan(Date.now());
  });

  test("a call pinned to the dead instance with no other replica of it is retried on the model's other instance", async () => {
    const r = await fx.client(Embed).embed({ inputs: "x" }, { headers: { "x-tei-index": "0" } });
    // index 0 among *ready* replicas is now bge-2: the ejected one is skipped
    expect(r.embeddings).toHaveLength(384);
  });
});

describe("UNAVAILABLE", () => {
  test("when no replica of the target can be reached", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const fx = await startRouter([route("gone", dead)], { ejectAfterFailures: 2, connectTimeoutMs: 500 });
    try {
      const client = fx.client(Embed);
      const first = await client.embed({ inputs: "x" }, { headers: { "x-tei-instance": "gone" } }).catch((e) => ConnectError.from(e));
      expect(first).toMatchObject({ code: Code.Unavailable });
      expect((first as ConnectError).rawMessage).toContain(dead);
      await client.embed({ inputs: "x" }, { headers: { "x-tei-instance": "gone" } }).catch(() => {});
      // Ejected after two failures: the router now answers without trying.
      const third = await client.embed({ inputs: "x" }, { headers: { "x-tei-model": BGE } }).catch((e) => ConnectError.from(e));
      expect(third).toMatchObject({ code: Code.Unavailable });
      expect((third as ConnectError).rawMessage).toContain("ejected");
    } finally {
      await fx.close();
    }
  });

  test("TEI's own UNAVAILABLE is retried on another replica of the model", async () => {
    const [sick, well] = await Promise.all([startTestBackend("sick"), startTestBackend("well")]);
    sick.unavailable = true;
    const fx = await startRouter([route("sick", sick.address), route("well", well.address)]);
    try {
      for (let i = 0; i < 6; i++) {
        const r = await fx.client(Embed).embed({ inputs: "x" }, { headers: { "x-tei-model": BGE } });
        expect(r.embeddings).toHaveLength(8);
      }
      // Every call was answered by "well"; "sick" was tried until its fifth failure ejected it.
      expect(well.calls.get("Embed")).toBe(6);
      expect(sick.calls.get("Embed")).toBe(5);
      expect(await metric(fx, "tei_router_ejections_total")).toBe(1);
    } finally {
      await fx.close();
      await Promise.all([sick.close(), well.close()]);
    }
  });

  test("a retried call gives the second replica only what is left of the deadline", async () => {
    const [sick, well] = await Promise.all([startTestBackend("sick"), startTestBackend("well")]);
    sick.unavailable = true;
    sick.failDelayMs = 300;
    const fx = await startRouter([route("sick", sick.address), route("well", well.address)]);
    try {
      const headers = { "x-tei-model": BGE };
      // Round-robin starts at the first replica by name: "sick", which answers UNAVAILABLE after 300 ms.
      await fx.client(Embed).embed({ inputs: "x" }, { headers, timeoutMs: 5000 });
      expect(sick.calls.get("Embed")).toBe(1);
      expect(well.calls.get("Embed")).toBe(1);
      const sent = (well.lastHeaders?.get("grpc-timeout") ?? "").match(/^(\d+)m$/);
      expect(sent).not.toBeNull();
      expect(Number(sent![1])).toBeLessThanOrEqual(4700);
      expect(Number(sent![1])).toBeGreaterThan(3000);
    } finally {
      await fx.close();
      await Promise.all([sick.close(), well.close()]);
    }
  });
});

describe("a backend that resets streams without answering", () => {
  test("is retried elsewhere for unary calls and is UNAVAILABLE alone, never a hang", async () => {
    // RST_STREAM(NO_ERROR) before any response: the backend stream ends without a 'response'.
    const rude = createH2Server();
    rude.on("stream", (s) => {
      s.on("error", () => {});
      s.close(h2constants.NGHTTP2_NO_ERROR);
    });
    await new Promise<void>((r) => rude.listen(0, "127.0.0.1", r));
    const rudeAddress = `127.0.0.1:${(rude.address() as AddressInfo).port}`;
    const well = await startTestBackend("well");
    const fx = await startRouter([route("rude", rudeAddress), route("well", well.address), route("rude-only", rudeAddress, { modelId: "other/model" })], {
      ejectAfterFailures: 100,
    });
    try {
      const client = fx.client(Embed);
      for (let i = 0; i < 4; i++) {
        const r = await client.embed({ inputs: "x" }, { headers: { "x-tei-model": BGE }, timeoutMs: 5000 });
        expect(r.embeddings).toHaveLength(8);
      }
      const alone = await client.embed({ inputs: "x" }, { headers: { "x-tei-instance": "rude-only" }, timeoutMs: 5000 }).catch((e) => ConnectError.from(e));
      expect(alone).toMatchObject({ code: Code.Unavailable });
      expect(await metric(fx, "tei_router_in_flight_requests")).toBe(0);
    } finally {
      await fx.close();
      await well.close();
      await new Promise<void>((r) => rude.close(() => r()));
    }
  });
});

describe("streams and deadlines", () => {
  let be: TestBackend;
  let fx: RouterFixture;
  beforeAll(async () => {
    be = await startTestBackend("a");
    fx = await startRouter([route("a", be.address)]);
  });
  afterAll(async () => {
    await fx?.close();
    await be?.close();
  });
  afterEach(() => {
    be.delayMs = 0;
  });

  test.each(["plain", "mux"])("a client that cancels a %s stream mid-way frees the backend stream", async (form) => {
    const ac = new AbortController();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    async function* plain() {
      yield { inputs: "first" };
      await gate;
    }
    async function* mux() {
      yield { target: { routing: { case: "instanceName" as const, value: "a" } }, request: { inputs: "first" } };
      await gate;
    }
    const responses =
      form === "plain"
        ? fx.client(Embed).embedStream(plain(), { headers: { "x-tei-instance": "a" }, signal: ac.signal })
        : fx.client(TeiMultiplexer).embedStream(mux(), { signal: ac.signal });
    const it = responses[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    expect(be.openStreams).toBe(1);
    ac.abort();
    await expect(it.next()).rejects.toMatchObject({ code: Code.Canceled });
    release();
    await until(() => be.openStreams === 0);
    await until(async () => (await metric(fx, "tei_router_in_flight_requests")) === 0);
  });

  test("grpc-timeout reaches the backend and the deadline is honoured", async () => {
    be.delayMs = 3000;
    const t0 = Date.now();
    const err = await fx
      .client(Embed)
      .embed({ inputs: "slow" }, { headers: { "x-tei-instance": "a" }, timeoutMs: 200 })
      .catch((e) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.DeadlineExceeded });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(be.lastHeaders?.get("grpc-timeout")).toMatch(/^\d+m$/);
    await until(async () => (await metric(fx, "tei_router_in_flight_requests")) === 0);
  });

  test("a bidirectional stream carries many messages in order", async () => {
    async function* many() {
      for (let i = 0; i < 500; i++) yield { inputs: `message ${i}` };
    }
    let n = 0;
    for await (const r of fx.client(Embed).embedStream(many(), { headers: { "x-tei-instance": "a" } })) {
      expect(r.embeddings).toHaveLength(8);
      n++;
    }
    expect(n).toBe(500);
  });
});

/** A TCP relay that can stop passing bytes without closing anything: a host that vanished. */
async function startBlackholeRelay(target: string) {
  const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
  let holed = false;
  const sockets: Socket[] = [];
  const server = createTcpServer((inbound) => {
    const outbound = netConnect({ host, port });
    sockets.push(inbound, outbound);
    inbound.on("data", (c) => holed || outbound.write(c));
    outbound.on("data", (c) => holed || inbound.write(c));
    inbound.on("error", () => {});
    outbound.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    blackhole: () => (holed = true),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("a backend host that vanishes without a TCP reset", () => {
  test("its connection is PINGed, closed when silent, and the call fails over to another replica", async () => {
    const [lost, well] = await Promise.all([startTestBackend("lost"), startTestBackend("well")]);
    lost.delayMs = 60_000; // the call sits at the backend when its host vanishes
    const relay = await startBlackholeRelay(lost.address);
    const fx = await startRouter([route("lost", relay.address), route("well", well.address)], { backendKeepaliveMs: 200 });
    try {
      // Round-robin starts with "lost". Without liveness checks this call would wait 60 s.
      const t0 = Date.now();
      const call = fx.client(Embed).embed({ inputs: "x" }, { headers: { "x-tei-model": BGE } });
      await until(() => (lost.calls.get("Embed") ?? 0) === 1);
      relay.blackhole();
      const r = await call;
      expect(r.embeddings).toHaveLength(8);
      expect(well.calls.get("Embed")).toBe(1);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      await fx.close();
      await relay.close();
      await Promise.all([lost.close(), well.close()]);
    }
  });

  test("a slow backend that answers PINGs keeps its call", async () => {
    const slow = await startTestBackend("slow");
    slow.delayMs = 1500;
    const fx = await startRouter([route("slow", slow.address)], { backendKeepaliveMs: 100 });
    try {
      const r = await fx.client(Embed).embed({ inputs: "x" }, { headers: { "x-tei-instance": "slow" } });
      expect(r.embeddings).toHaveLength(8);
    } finally {
      await fx.close();
      await slow.close();
    }
  });
});

describe("the route table changes while a call is on its way", () => {
  test("a call whose replica left the table before its request ended goes to another replica of the model", async () => {
    const [a, b] = await Promise.all([startTestBackend("a"), startTestBackend("b")]);
    const fx = await startRouter([route("a", a.address), route("b", b.address)]);
    const session = rawSession(fx.port);
    try {
      // Both backends have a connection (as replicas serving traffic do).
      for (const name of ["a", "b"]) await fx.client(Embed).embed({ inputs: "warm" }, { headers: { "x-tei-instance": name } });
      const body = frame(toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs: "in flight" })));
      const req = session.request({
        ":method": "POST",
        ":path": "/tei.v1.Embed/Embed",
        "content-type": "application/grpc",
        te: "trailers",
        "x-tei-model": BGE,
      });
      const answer = new Promise<{ status: string | undefined; instance: string | undefined }>((resolve, reject) => {
        let instance: string | undefined;
        let status: string | undefined;
        req.on("response", (h) => {
          instance = String(h["x-tei-instance"]);
          status = h["grpc-status"] === undefined ? undefined : String(h["grpc-status"]); // trailers-only
        });
        req.on("trailers", (t) => (status = String(t["grpc-status"])));
        req.on("close", () => resolve({ status, instance }));
        req.on("error", reject);
        req.resume();
      });
      // The router resolves the target with the headers (round-robin starts at "a"), then "a"
      // is drained out of the table before the request's last byte arrives.
      req.write(body.subarray(0, 4));
      await new Promise((r) => setTimeout(r, 50));
      await fx.setRoutes([route("b", b.address)], 2);
      req.end(body.subarray(4));
      expect(await answer).toEqual({ status: "0", instance: "b" });
      expect(a.calls.get("Embed")).toBe(1); // the warm-up only
    } finally {
      session.close();
      await fx.close();
      await Promise.all([a.close(), b.close()]);
    }
  });
});
