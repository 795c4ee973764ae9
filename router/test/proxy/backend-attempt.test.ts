/**
 * The backend attempt on its own, as the HTTP/2 gateway will use it: no client stream, only a
 * target, a framed request and a listener; real backends over real HTTP/2 connections.
 */

import { performance } from "node:perf_hooks";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EmbedRequestSchema, EmbedResponseSchema } from "@tei-fleet/proto/tei/v1";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { freePort } from "../../../test/harness/free-port.ts";
import {
  type AttemptContext,
  BackendAttempt,
  BackendPool,
  GrpcStatus,
  METHODS,
  OutlierDetector,
  type Replica,
  RoundRobinBalancer,
  type RouterError,
  RouteTable,
  type Target,
} from "../../src/index.ts";
import { frame } from "../support/raw-client.ts";
import { route } from "../support/router-fixture.ts";
import { startTestBackend, type TestBackend } from "../support/tei-backend.ts";

const MODEL = "BAAI/bge-small-en-v1.5";
const EMBED = METHODS.get("/tei.v1.Embed/Embed")!;
const EMBED_STREAM = METHODS.get("/tei.v1.Embed/EmbedStream")!;
const HEADERS = ["content-type", "application/grpc"];

/** Counts what the balancer is told, per instance. */
class CountingBalancer extends RoundRobinBalancer {
  open = new Map<string, number>();
  starts = 0;
  override onCallStart(r: Replica): void {
    this.starts++;
    this.open.set(r.instanceName, (this.open.get(r.instanceName) ?? 0) + 1);
  }
  override onCallEnd(r: Replica): void {
    this.open.set(r.instanceName, (this.open.get(r.instanceName) ?? 0) - 1);
  }
  get openCalls(): number {
    return [...this.open.values()].reduce((a, b) => a + b, 0);
  }
}

interface Outcome {
  headers: string[] | null;
  body: Buffer | null;
  trailers: string[];
  code: number;
  streamed: Buffer[];
  error: RouterError | undefined;
}

/** Runs one call on an attempt and resolves with what its listener heard. */
function run(
  ctx: AttemptContext,
  target: Target,
  method: typeof EMBED,
  send: (a: BackendAttempt) => void,
  headers = HEADERS,
): { attempt: BackendAttempt; done: Promise<Outcome> } {
  const out: Outcome = { headers: null, body: null, trailers: [], code: -1, streamed: [], error: undefined };
  let resolve!: (o: Outcome) => void;
  const done = new Promise<Outcome>((r) => (resolve = r));
  const attempt = new BackendAttempt(ctx, method, headers, performance.now(), {
    onAttemptHeaders: (h) => (out.headers = h),
    onAttemptData: (chunk) => out.streamed.push(chunk) > 0,
    onAttemptEnd(h, body, trailers, code) {
      out.headers ??= h;
      Object.assign(out, { body, trailers, code });
      resolve(out);
    },
    onAttemptError(err) {
      out.error = err;
      resolve(out);
    },
    onAttemptDrain() {},
  });
  attempt.route(target);
  send(attempt);
  return { attempt, done };
}

const embedFrame = (inputs: string): Buffer => frame(toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs })));
const header = (list: string[] | null, name: string): string | undefined => list?.[list.indexOf(name) + 1];

describe("a backend attempt without a client stream", () => {
  let a: TestBackend;
  let b: TestBackend;
  let pool: BackendPool;
  let table: RouteTable;
  let balancer: CountingBalancer;
  let retries: string[];
  let ctx: AttemptContext;
  beforeAll(async () => {
    [a, b] = await Promise.all([startTestBackend("a"), startTestBackend("b")]);
    pool = new BackendPool(pino({ level: "silent" }));
  });
  afterAll(async () => {
    pool.closeAll(true);
    await Promise.all([a.close(), b.close()]);
  });
  beforeEach(() => {
    a.unavailable = false;
    b.unavailable = false;
    balancer = new CountingBalancer();
    table = new RouteTable(balancer);
    table.replace([route("a", a.address, { node: "node-a" }), route("b", b.address, { node: "node-b" })], 1n);
    retries = [];
    ctx = { table, pool, outliers: new OutlierDetector({ consecutiveFailures: 2 }), metrics: { retried: (m) => void retries.push(m) } };
  });

  test("a unary call returns TEI's answer whole: headers naming the replica, the message, the trailers", async () => {
    const { done } = run(ctx, { kind: "instance", name: "a" }, EMBED, (at) => at.sendUnary(embedFrame("hello")));
    const o = await done;
    expect(o.error).toBeUndefined();
    expect(o.code).toBe(GrpcStatus.OK);
    expect(header(o.headers, "x-tei-instance")).toBe("a");
    expect(header(o.headers, "x-tei-node")).toBe("node-a");
    expect(header(o.trailers, "grpc-status")).toBe("0");
    expect(fromBinary(EmbedResponseSchema, o.body!.subarray(5)).embeddings).toHaveLength(8);
    expect(balancer.starts).toBe(1);
    expect(balancer.openCalls).toBe(0);
  });

  test("UNAVAILABLE is retried once on another replica of the model, counted against the first", async () => {
    a.unavailable = true;
    const before = a.calls.get("Embed") ?? 0;
    const { attempt, done } = run(ctx, { kind: "instance", name: "a" }, EMBED, (at) => at.sendUnary(embedFrame("x")));
    const o = await done;
    expect(o.code).toBe(GrpcStatus.OK);
    expect(header(o.headers, "x-tei-instance")).toBe("b");
    expect(attempt.replica?.instanceName).toBe("b");
    expect(a.calls.get("Embed")).toBe(before + 1);
    expect(retries).toEqual([MODEL]);
    expect(table.replicas().find((r) => r.instanceName === "a")?.failures).toBe(1);
    expect(balancer.starts).toBe(2);
    expect(balancer.openCalls).toBe(0);
  });

  test("with every replica failing, the second failure is the answer, and repeated failures eject", async () => {
    a.unavailable = true;
    b.unavailable = true;
    const o = await run(ctx, { kind: "model", model: MODEL }, EMBED, (at) => at.sendUnary(embedFrame("x"))).done;
    expect(o.error).toBeUndefined();
    expect(o.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(decodeURIComponent(header(o.trailers, "grpc-message") ?? "")).toBe("Model is not healthy");
    expect(retries).toHaveLength(1);
    await run(ctx, { kind: "model", model: MODEL }, EMBED, (at) => at.sendUnary(embedFrame("x"))).done;
    // Two consecutive failures each (consecutiveFailures: 2): both replicas are out.
    expect(() => table.resolve({ kind: "model", model: MODEL })).toThrow(/all 2 ejected/);
    expect(balancer.openCalls).toBe(0);
  });

  test("a replica that cannot be reached and has no alternative is UNAVAILABLE, a status of the router's own", async () => {
    table.replace([route("gone", `127.0.0.1:${await freePort()}`)], 2n);
    const o = await run(ctx, { kind: "instance", name: "gone" }, EMBED, (at) => at.sendUnary(embedFrame("x"))).done;
    expect(o.error?.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(o.error?.message).toContain("gone");
    expect(balancer.openCalls).toBe(0);
  });

  test("a streaming call passes its answer on as it comes", async () => {
    const { done } = run(ctx, { kind: "instance", name: "b" }, EMBED_STREAM, (at) => {
      for (const text of ["one", "two", "three"]) at.send(embedFrame(text), false);
      at.send(Buffer.alloc(0), true);
    });
    const o = await done;
    expect(o.code).toBe(GrpcStatus.OK);
    expect(header(o.headers, "x-tei-instance")).toBe("b");
    const bytes = Buffer.concat(o.streamed);
    let n = 0;
    for (let at = 0; at < bytes.length; n++) {
      const len = bytes.readUInt32BE(at + 1);
      expect(fromBinary(EmbedResponseSchema, bytes.subarray(at + 5, at + 5 + len)).embeddings).toHaveLength(8);
      at += 5 + len;
    }
    expect(n).toBe(3);
    expect(retries).toEqual([]);
  });

  test("cancel() frees the backend stream and the balancer's count", async () => {
    a.delayMs = 2000;
    try {
      const { attempt } = run(ctx, { kind: "instance", name: "a" }, EMBED, (at) => at.sendUnary(embedFrame("slow")));
      expect(balancer.openCalls).toBe(1);
      attempt.cancel();
      expect(balancer.openCalls).toBe(0);
      attempt.cancel();
      expect(balancer.openCalls).toBe(0);
    } finally {
      a.delayMs = 0;
    }
  });
});
