import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AdmissionService, UsageService } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, type ApiFixture, bearer, JOIN, READ, startApi } from "./api-fixtures.ts";

let api: ApiFixture;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

const client = (token: string | null = JOIN) => createClient(AdmissionService, createGrpcTransport({ baseUrl: api.url, interceptors: [bearer(token)] }));

type Entry = { keyId: string; model?: string; requests?: number; inputs?: number; tokens?: number; refused?: Record<string, number> };
const report = (routerId: string, sequence: number, usage: Entry[]) => ({
  routerId,
  sequence: BigInt(sequence),
  usage: usage.map((u) => ({
    keyId: u.keyId,
    model: u.model ?? "",
    requests: BigInt(u.requests ?? 0),
    inputs: BigInt(u.inputs ?? 0),
    tokens: BigInt(u.tokens ?? 0),
    refused: Object.fromEntries(Object.entries(u.refused ?? {}).map(([r, n]) => [r, BigInt(n)])),
  })),
});

async function expectField(call: Promise<unknown>, field: string) {
  const err = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err, "the call should have failed").toBeDefined();
  expect(Code[err!.code]).toBe(Code[Code.InvalidArgument]);
  expect(err!.metadata.get("x-error-field")).toBe(field);
}

async function newKey(name: string, owner: string): Promise<string> {
  const res = await api.rest("POST", "/keys", { name, owner });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

describe("AdmissionService.ReportUsage", () => {
  it("sums two routers' reports per key and model", async () => {
    const id = await newKey("sum", "team-a");
    const c = client();
    expect((await c.reportUsage(report("sum-r1", 1, [{ keyId: id, model: "bge", requests: 3, inputs: 7, tokens: 70 }]))).counted).toBe(true);
    await c.reportUsage(report("sum-r2", 1, [{ keyId: id, model: "bge", requests: 2, inputs: 2, tokens: 30, refused: { rate_limited: 4 } }]));
    await c.reportUsage(report("sum-r2", 2, [{ keyId: id, model: "e5", requests: 1, inputs: 1, tokens: 5 }]));
    const res = await api.rest("GET", `/keys/${id}/usage`, undefined, { token: READ });
    expect(res.status).toBe(200);
    expect(res.body.total).toEqual({ requests: 6, inputs: 10, tokens: 105, refused: { rate_limited: 4 } });
    expect(res.body.models).toEqual([
      { model: "bge", requests: 5, inputs: 9, tokens: 100, refused: { rate_limited: 4 } },
      { model: "e5", requests: 1, inputs: 1, tokens: 5, refused: {} },
    ]);
    // The current hour's bucket holds the same.
    const hour = await api.rest("GET", `/keys/${id}/usage?from=${Date.now() - 60_000}`, undefined, { token: READ });
    expect(hour.status).toBe(200);
    expect(hour.body.total.tokens).toBe(105);
    // An hour long past holds nothing.
    const old = await api.rest("GET", `/keys/${id}/usage?from=${Date.now() - 5 * 3_600_000}&to=${Date.now() - 4 * 3_600_000}`, undefined, { token: READ });
    expect(old.body.total.requests).toBe(0);
  });

  it("does not count a resent report (same sequence) twice, nor an older one", async () => {
    const id = await newKey("resend", "team-b");
    const c = client();
    const r = report("resend-r1", 5, [{ keyId: id, model: "m", requests: 10, inputs: 10, tokens: 100 }]);
    expect((await c.reportUsage(r)).counted).toBe(true);
    expect((await c.reportUsage(r)).counted).toBe(false);
    expect((await c.reportUsage(report("resend-r1", 4, [{ keyId: id, model: "m", requests: 1 }]))).counted).toBe(false);
    expect((await c.reportUsage(report("resend-r1", 6, [{ keyId: id, model: "m", requests: 1 }]))).counted).toBe(true);
    const res = await api.rest("GET", `/keys/${id}/usage`);
    expect(res.body.total).toMatchObject({ requests: 11, inputs: 10, tokens: 100 });
  });

  it("refuses bad reports naming the field, and counts nothing of them", async () => {
    const id = await newKey("bad", "team-c");
    const c = client();
    await expectField(c.reportUsage(report("", 1, [])), "router_id");
    await expectField(c.reportUsage(report("bad router", 1, [])), "router_id");
    await expectField(c.reportUsage(report("bad-r", 0, [])), "sequence");
    await expectField(
      c.reportUsage(
        report("bad-r", 1, [
          { keyId: id, requests: 1 },
          { keyId: "", requests: 1 },
        ]),
      ),
      "usage.1.key_id",
    );
    await expectField(c.reportUsage(report("bad-r", 1, [{ keyId: id, model: "a|b", requests: 1 }])), "usage.0.model");
    await expectField(
      c.reportUsage(
        report("bad-r", 1, [
          { keyId: id, model: "x" },
          { keyId: id, model: "x" },
        ]),
      ),
      "usage.1.model",
    );
    await expectField(c.reportUsage(report("bad-r", 1, [{ keyId: id, refused: { bored: 1 } }])), "usage.0.refused");
    const tooMany = { ...report("bad-r", 1, []), usage: [{ keyId: id, model: "", requests: 2n ** 60n, inputs: 0n, tokens: 0n, refused: {} }] };
    await expectField(c.reportUsage(tooMany), "usage.0.requests");
    expect((await api.rest("GET", `/keys/${id}/usage`)).body.total.requests).toBe(0);
    // The bad reports did not consume sequence 1.
    expect((await c.reportUsage(report("bad-r", 1, [{ keyId: id, requests: 1 }]))).counted).toBe(true);
  });

  it("takes the join token only", async () => {
    const err = await client(READ)
      .reportUsage(report("auth-r", 1, []))
      .catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect([Code.Unauthenticated, Code.PermissionDenied]).toContain((err as ConnectError).code);
  });
});

describe("usage over REST and metrics", () => {
  it("groups usage by owner, key and model, and exports it on /metrics", async () => {
    const a1 = await newKey("g-a1", "group-x");
    const a2 = await newKey("g-a2", "group-x");
    const b1 = await newKey("g-b1", "group-y");
    await client().reportUsage(
      report("group-r1", 1, [
        { keyId: a1, model: "bge", requests: 1, inputs: 1, tokens: 10 },
        { keyId: a2, model: "bge", requests: 2, inputs: 2, tokens: 20 },
        { keyId: b1, model: "e5", requests: 4, inputs: 4, tokens: 40 },
      ]),
    );
    const byOwner = await api.rest("GET", "/usage?group_by=owner", undefined, { token: READ });
    expect(byOwner.status).toBe(200);
    const owners = Object.fromEntries((byOwner.body.groups as Array<{ owner: string; tokens: number }>).map((g) => [g.owner, g.tokens]));
    expect(owners["group-x"]).toBe(30);
    expect(owners["group-y"]).toBe(40);
    const byKey = await api.rest("GET", "/usage?group_by=key");
    expect((byKey.body.groups as Array<{ key: string; requests: number }>).find((g) => g.key === a2)?.requests).toBe(2);
    const byModel = await api.rest("GET", `/usage?group_by=model&from=${Date.now() - 60_000}`);
    expect((byModel.body.groups as Array<{ model: string }>).map((g) => g.model)).toEqual(expect.arrayContaining(["bge", "e5"]));

    const text = String((await api.rest("GET", "/metrics", undefined, { token: null })).body);
    expect(text).toContain(`tei_fleet_key_requests_total{key="${b1}",owner="group-y",model="e5"} 4`);
    expect(text).toContain(`tei_fleet_key_tokens_total{key="${a1}",owner="group-x",model="bge"} 10`);
    expect(text).toContain(`tei_fleet_key_inputs_total{key="${a2}",owner="group-x",model="bge"} 2`);
  });

  it("refuses bad queries naming the field, and unknown keys", async () => {
    expect((await api.rest("GET", "/usage?group_by=team")).body).toMatchObject({ field: "group_by" });
    expect((await api.rest("GET", "/usage?from=yesterday")).body).toMatchObject({ field: "from" });
    expect((await api.rest("GET", `/usage?from=${Date.now()}&to=${Date.now() - 1000}`)).body).toMatchObject({ field: "to" });
    expect((await api.rest("GET", "/usage?to=1")).status).toBe(400);
    expect((await api.rest("GET", "/keys/no-such-key/usage")).status).toBe(404);
    expect((await api.rest("GET", "/usage", undefined, { token: null })).status).toBe(401);
  });
});

describe("UsageService over Connect", () => {
  it("reads a key's usage and groups by owner, as REST does", async () => {
    const id = await newKey("connect-a", "group-connect");
    await client().reportUsage(report("connect-r1", 1, [{ keyId: id, model: "bge", requests: 3, inputs: 5, tokens: 50, refused: { deadline: 1 } }]));
    const u = createClient(UsageService, createGrpcTransport({ baseUrl: api.url, interceptors: [bearer(ADMIN)] }));
    const k = await u.getKeyUsage({ id });
    expect(k.total).toMatchObject({ requests: 3n, inputs: 5n, tokens: 50n, refused: { deadline: 1n } });
    expect(k.models.map((m) => m.model)).toEqual(["bge"]);
    const g = await u.listUsage({ groupBy: "owner", fromMs: BigInt(Date.now() - 60_000) });
    expect(g.groups.find((x) => x.name === "group-connect")?.usage?.tokens).toBe(50n);
    await expectField(u.listUsage({ groupBy: "team" }), "group_by");
    const missing = await u.getKeyUsage({ id: "no-such-key" }).catch((e: unknown) => ConnectError.from(e));
    expect((missing as ConnectError).code).toBe(Code.NotFound);
  });
});

describe("a large report", () => {
  it("counts 10,000 (key, model) entries in one report", async () => {
    const id = await newKey("large", "team-large");
    const usage = Array.from({ length: 10_000 }, (_, i) => ({ keyId: id, model: `m${i}`, requests: 1, inputs: 1, tokens: 2, refused: { rate_limited: 1 } }));
    expect((await client().reportUsage(report("large-r1", 1, usage))).counted).toBe(true);
    const res = await api.rest("GET", `/keys/${id}/usage`);
    expect(res.body.total).toEqual({ requests: 10_000, inputs: 10_000, tokens: 20_000, refused: { rate_limited: 10_000 } });
  }, 30_000);
});
