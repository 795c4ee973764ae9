import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { InstanceService } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, type ApiFixture, randomPrefix, startApi } from "./api-fixtures.ts";

// Two control planes on one Redis under one prefix: any call may go to either.
let a: ApiFixture;
let b: ApiFixture;
beforeAll(async () => {
  const prefix = randomPrefix();
  [a, b] = await Promise.all([startApi({ prefix }), startApi({ prefix })]);
});
afterAll(async () => {
  await Promise.all([a.close(), b.close()]);
});

const spec = (name: string, extra: Record<string, unknown> = {}) => ({ name, model_id: "BAAI/bge-small-en-v1.5", ...extra });

describe("two control-plane replicas on one Redis", () => {
  it("an instance created on one is read, changed and deleted on the other, with the same results", async () => {
    expect((await a.rest("POST", "/instances", spec("shared"))).status).toBe(201);
    const onB = await b.rest("GET", "/instances/shared");
    expect(onB.status).toBe(200);
    const onA = await a.rest("GET", "/instances/shared");
    // Desired state is identical; observed fields (status, reason) may move while the scheduler works.
    const desired = (v: Record<string, unknown>) => ({ name: v.name, revision: v.revision, created_at: v.created_at, spec: v.spec });
    expect(desired(onB.body)).toEqual(desired(onA.body));
    const patched = await b.rest("PATCH", "/instances/shared", { max_batch_tokens: 512 }, { headers: { "if-match": "1" } });
    expect(patched.body.revision).toBe(2);
    expect((await a.rest("GET", "/instances/shared")).body).toMatchObject({ revision: 2, max_batch_tokens: 512 });
    expect((await a.rest("POST", "/instances/shared/stop")).body.desired_state).toBe("stopped");
    expect((await b.rest("GET", "/health/all")).body.instances.map((i: { instance: string }) => i.instance)).toContain("shared");
    expect((await b.rest("DELETE", "/instances/shared")).status).toBe(204);
    expect((await a.rest("GET", "/instances/shared")).status).toBe(404);
    const events = (await a.rest("GET", "/events?limit=1000")).body.events.filter((e: { instance: string }) => e.instance === "shared");
    expect(events.map((e: { kind: string }) => e.kind)).toEqual(
      expect.arrayContaining(["instance.created", "instance.updated", "instance.stopped", "instance.deleted"]),
    );
  });

  it("concurrent creates of one name across both replicas give exactly one 201", async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).rest("POST", "/instances", spec("contested", { max_batch_tokens: 100 + i }))),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(11);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body.code).toBe("INSTANCE_EXISTS");
    const winner = results.find((r) => r.status === 201)!.body;
    expect((await b.rest("GET", "/instances/contested")).body.max_batch_tokens).toBe(winner.max_batch_tokens);
    const created = (await a.rest("GET", "/events?limit=1000")).body.events.filter(
      (e: { instance: string; kind: string }) => e.instance === "contested" && e.kind === "instance.created",
    );
    expect(created).toHaveLength(1);
  });

  it("concurrent updates with the same If-Match: one wins, the others get 412 PRECONDITION_FAILED", async () => {
    await a.rest("POST", "/instances", spec("raced"));
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        (i % 2 === 0 ? a : b).rest("PATCH", "/instances/raced", { max_batch_tokens: 1000 + i }, { headers: { "if-match": '"1"' } }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 412 && r.body.code === "PRECONDITION_FAILED")).toHaveLength(7);
    expect((await b.rest("GET", "/instances/raced")).body.revision).toBe(2);
  });

  it("concurrent updates without If-Match are all applied, none lost: the revision counts every one", async () => {
    await a.rest("POST", "/instances", spec("merged"));
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) => (i % 2 === 0 ? a : b).rest("PATCH", "/instances/merged", { max_batch_tokens: 2000 + i })),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect((await a.rest("GET", "/instances/merged")).body.revision).toBe(5);
  });
});

describe("idempotent creates", () => {
  it("a retried create with the same Idempotency-Key returns the first instance and never makes two", async () => {
    const headers = { "idempotency-key": "retry-1" };
    const first = await a.rest("POST", "/instances", spec("retried", { port: 8090 }), { headers });
    expect(first.status).toBe(201);
    // The retry (on the other replica) must not trip over the port its first attempt claimed.
    const retry = await b.rest("POST", "/instances", spec("retried", { port: 8090 }), { headers });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.body.created_at).toBe(first.body.created_at);
    expect(retry.body.revision).toBe(1);
    const list = (await a.rest("GET", "/instances")).body as { name: string }[];
    expect(list.filter((i) => i.name === "retried")).toHaveLength(1);
    const metric = await (await fetch(`${a.url}/metrics`)).text();
    expect(metric).toMatch(/tei_manager_instances_created_total\{instance="retried",[^}]*\} 1/);
  });

  it("concurrent creates with one key across both replicas all answer 201 with one instance", async () => {
    const headers = { "idempotency-key": "burst-1" };
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).rest("POST", "/instances", spec("bursted"), { headers })));
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(201));
    expect(new Set(results.map((r) => r.body.created_at)).size).toBe(1);
    expect(results.filter((r) => r.headers.get("idempotent-replayed") === null)).toHaveLength(1);
  });

  it("the same key with a different body is 422 IDEMPOTENCY_KEY_MISMATCH and changes nothing", async () => {
    const headers = { "idempotency-key": "reused-1" };
    expect((await a.rest("POST", "/instances", spec("keyed-one"), { headers })).status).toBe(201);
    const reused = await b.rest("POST", "/instances", spec("keyed-two"), { headers });
    expect(reused.status).toBe(422);
    expect(reused.body).toMatchObject({ code: "IDEMPOTENCY_KEY_MISMATCH", field: "Idempotency-Key" });
    expect((await a.rest("GET", "/instances/keyed-two")).status).toBe(404);
  });

  it("a key is remembered only as long as its TTL, stored next to the instance it made", async () => {
    const key = a.cp.keys.idempotency("retry-1");
    const ttl = await a.redis.pttl(key);
    expect(ttl).toBeGreaterThan(23 * 3600 * 1000);
    expect(ttl).toBeLessThanOrEqual(24 * 3600 * 1000);
    expect(JSON.parse((await a.redis.get(key))!)).toMatchObject({ name: "retried" });
  });

  it("Connect's idempotency_key and REST's Idempotency-Key share one namespace", async () => {
    const auth: Interceptor = (next) => (req) => {
      req.header.set("authorization", `Bearer ${ADMIN}`);
      return next(req);
    };
    const client = createClient(InstanceService, createConnectTransport({ baseUrl: b.url, httpVersion: "1.1", interceptors: [auth] }));
    const first = await a.rest("POST", "/instances", spec("crossed"), { headers: { "idempotency-key": "cross-1" } });
    const again = await client.createInstance({ spec: { name: "crossed", modelId: "BAAI/bge-small-en-v1.5" }, idempotencyKey: "cross-1" });
    expect(Number(again.instance!.createdAtMs)).toBe(Date.parse(first.body.created_at));
  });
});
