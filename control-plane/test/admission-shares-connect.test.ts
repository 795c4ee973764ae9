import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { AdmissionService } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiFixture, bearer, JOIN, READ, randomPrefix, startApi } from "./api-fixtures.ts";

const grpcClient = (api: ApiFixture, token: string | null = JOIN) =>
  createClient(AdmissionService, createGrpcTransport({ baseUrl: api.url, interceptors: [bearer(token)] }));
const connectClient = (api: ApiFixture, token: string | null = JOIN) =>
  createClient(AdmissionService, createConnectTransport({ baseUrl: api.url, httpVersion: "1.1", interceptors: [bearer(token)] }));

/** A report of `requests` calls of key `key` in one second. */
const report = (routerId: string, demand: Record<string, number>, more: { windowMs?: number; routerCount?: number } = {}) => ({
  routerId,
  windowMs: 1000,
  keys: Object.entries(demand).map(([limitId, requests]) => ({ limitId, requests: BigInt(requests), tokens: 0n })),
  ...more,
});

const sharesOf = (res: { shares: Array<{ limitId: string; share: number }> }) => Object.fromEntries(res.shares.map((s) => [s.limitId, s.share]));

async function expectCode(call: Promise<unknown>, code: Code, apiCode?: string, field?: string) {
  const err = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err, "the call should have failed").toBeDefined();
  expect(Code[err!.code]).toBe(Code[code]);
  if (apiCode) expect(err!.metadata.get("x-error-code")).toBe(apiCode);
  if (field) expect(err!.metadata.get("x-error-field")).toBe(field);
  return err!;
}

describe("AdmissionService.RenewShares", () => {
  let api: ApiFixture;
  let quick: ApiFixture;
  beforeAll(async () => {
    api = await startApi();
    quick = await startApi({ shareTtlMs: 500 });
  });
  afterAll(async () => {
    await api.close();
    await quick.close();
  });

  it("grants two routers with skewed demand shares in proportion to it, above a 5% floor", async () => {
    const c = grpcClient(api);
    // Alone, the first router holds the key's whole rate.
    expect(sharesOf(await c.renewShares(report("skew-a", { k1: 300 })))).toEqual({ k1: 1 });
    const b = await c.renewShares(report("skew-b", { k1: 20 }));
    expect(b.routers).toBe(2);
    const a = await c.renewShares(report("skew-a", { k1: 300 }));
    const shareA = sharesOf(a).k1 as number;
    const shareB = sharesOf(b).k1 as number;
    expect(shareA).toBeCloseTo(0.025 + (0.95 * 300) / 320, 6);
    expect(shareB).toBeCloseTo(0.025 + (0.95 * 20) / 320, 6);
    expect(shareA + shareB).toBeCloseTo(1, 6);
    // A router that stops seeing the key: its demand decays (smoothed, 20 → 10 per second), and
    // its share follows.
    await c.renewShares(report("skew-b", { other: 5 }));
    const a2 = sharesOf(await c.renewShares(report("skew-a", { k1: 300 })));
    expect(a2.k1).toBeCloseTo(0.025 + (0.95 * 300) / 310, 6);
  });

  it("answers alike from two control planes on one Redis", async () => {
    const prefix = randomPrefix();
    const one = await startApi({ prefix });
    const two = await startApi({ prefix });
    try {
      await grpcClient(one).renewShares(report("copy-a", { k: 60 }));
      const b = await connectClient(two).renewShares(report("copy-b", { k: 20 }));
      expect(b.routers).toBe(2);
      expect(sharesOf(b).k).toBeCloseTo(0.025 + 0.95 * 0.25, 6);
      expect(await one.redis.zrange(`${prefix}:share-routers`, 0, -1)).toEqual(expect.arrayContaining(["copy-a", "copy-b"]));
      expect(await one.redis.pttl(`${prefix}:share-report:copy-a`)).toBeGreaterThan(0);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it("redistributes the share of a router that stops reporting once its report expires", async () => {
    const c = grpcClient(quick);
    await c.renewShares(report("gone-a", { k: 50 }));
    const before = await c.renewShares(report("gone-b", { k: 50 }));
    expect(before.routers).toBe(2);
    expect(sharesOf(before).k).toBeCloseTo(0.5, 6);
    // gone-a falls silent; gone-b keeps reporting past the TTL (500 ms).
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 200));
      await c.renewShares(report("gone-b", { k: 50 }));
    }
    const after = await c.renewShares(report("gone-b", { k: 50 }));
    expect(after.routers).toBe(1);
    expect(sharesOf(after).k).toBe(1);
    expect(await quick.redis.exists(`${quick.cp.keys.shareReport("gone-a")}`)).toBe(0);
  });

  it("reserves an even split for routers a report says exist but that have not reported", async () => {
    const own = await startApi();
    try {
      const c = connectClient(own);
      const first = await c.renewShares(report("count-a", { k: 100 }, { routerCount: 3 }));
      expect(first.routers).toBe(3);
      expect(sharesOf(first).k).toBeCloseTo(1 / 3, 6);
      // The second reporter: the two divide 2/3 by demand, the third keeps its 1/3.
      const second = await c.renewShares(report("count-b", { k: 100 }));
      expect(second.routers).toBe(3);
      expect(sharesOf(second).k).toBeCloseTo(1 / 3, 6);
    } finally {
      await own.close();
    }
  });

  it("lets a key's demand decay, and forgets it, once the router stops seeing it", async () => {
    const c = grpcClient(api);
    await c.renewShares(report("decay-a", { kd: 100 }));
    const next = await c.renewShares(report("decay-a", {}));
    expect(Object.keys(sharesOf(next))).toEqual(["kd"]);
    let res = next;
    for (let i = 0; i < 20; i++) res = await c.renewShares(report("decay-a", {}));
    expect(res.shares).toEqual([]);
  });

  it("refuses a bad report with INVALID_ARGUMENT naming the field", async () => {
    const c = grpcClient(api);
    await expectCode(c.renewShares(report("", { k: 1 })), Code.InvalidArgument, "MISSING_FIELD", "router_id");
    await expectCode(c.renewShares(report("has space", { k: 1 })), Code.InvalidArgument, "VALIDATION_ERROR", "router_id");
    await expectCode(c.renewShares(report("bad-window", { k: 1 }, { windowMs: 0 })), Code.InvalidArgument, "VALIDATION_ERROR", "window_ms");
    await expectCode(c.renewShares(report("bad-count", { k: 1 }, { routerCount: 1_000_000 })), Code.InvalidArgument, "VALIDATION_ERROR", "router_count");
    await expectCode(c.renewShares(report("bad-id", { k: 1, "": 2 })), Code.InvalidArgument, "MISSING_FIELD", "keys.1.limit_id");
    await expectCode(c.renewShares(report("bad-long", { ["x".repeat(129)]: 1 })), Code.InvalidArgument, "VALIDATION_ERROR", "keys.0.limit_id");
    const dup = { routerId: "bad-dup", windowMs: 1000, keys: [{ limitId: "k" }, { limitId: "k" }] };
    const err = await expectCode(c.renewShares(dup), Code.InvalidArgument, "VALIDATION_ERROR", "keys.1.limit_id");
    expect(err.message).not.toContain('"k"');
    // Nothing of a refused report is kept.
    expect(await api.redis.exists(api.cp.keys.shareReport("bad-dup"))).toBe(0);
  });

  it("refuses a router without the join token", async () => {
    await expectCode(grpcClient(api, null).renewShares(report("anon", { k: 1 })), Code.Unauthenticated);
    await expectCode(connectClient(api, "not-a-token").renewShares(report("anon", { k: 1 })), Code.Unauthenticated);
    await expectCode(grpcClient(api, READ).renewShares(report("reader", { k: 1 })), Code.PermissionDenied);
    expect(await api.redis.exists(api.cp.keys.shareReport("anon"))).toBe(0);
  });
});
