import { createHash } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { WatchMirror } from "@tei-fleet/core/watch";
import { ApiKeyService, RouteService, type WatchEvent } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, bearer, JOIN, READ, redisSnapshot } from "./api-fixtures.ts";
import { eventsOf, startCatalogApi } from "./catalog-fixtures.ts";

let api: Awaited<ReturnType<typeof startCatalogApi>>;
const aborts: AbortController[] = [];
beforeAll(async () => {
  api = await startCatalogApi();
});
afterAll(async () => {
  for (const a of aborts) a.abort();
  await api.close();
});

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** A router's route watch (join token), applied to a mirror. */
function routerWatch() {
  const client = createClient(RouteService, createGrpcTransport({ baseUrl: api.url, interceptors: [bearer(JOIN)] }));
  const abort = new AbortController();
  aborts.push(abort);
  const stream = client.watchRouteChanges({}, { signal: abort.signal })[Symbol.asyncIterator]();
  const mirror = new WatchMirror();
  return {
    mirror,
    stop: () => abort.abort(),
    /** Applies events until `check` holds; returns the event that made it hold. */
    async until(check: (m: WatchMirror) => boolean): Promise<WatchEvent> {
      for (;;) {
        const next = await stream.next();
        if (next.done) throw new Error("watch ended");
        mirror.apply(next.value.event!);
        if (check(mirror)) return next.value.event!;
      }
    },
  };
}

describe("API keys over REST", () => {
  it("shows a key once at creation, stores only its hash, and gives routers hash, limits, models and expiry", async () => {
    const w = routerWatch();
    await w.until((m) => m.loaded);
    const created = await api.rest("POST", "/keys", {
      name: "search",
      owner: "team-search",
      models: ["embed", "BAAI/bge-small-en-v1.5"],
      expires_at: "2099-01-01T00:00:00Z",
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("cache-control")).toBe("no-store");
    const secret = created.body.secret as string;
    expect(secret).toMatch(/^tfk_[A-Za-z0-9_-]{43}$/);
    expect(created.body).toMatchObject({
      name: "search",
      owner: "team-search",
      limits: { requests_per_second: 80, burst: 50, tokens_per_minute: 0 },
      expires_at: "2099-01-01T00:00:00.000Z",
      prefix: secret.slice(0, 8),
      revoked: false,
      expired: false,
      revision: 1,
    });
    const id = created.body.id as string;

    await w.until((m) => m.get("apiKey", id) !== undefined);
    const routed = w.mirror.get("apiKey", id)!;
    expect(routed).toMatchObject({
      id,
      name: "search",
      weight: 1,
      sha256: sha256(secret),
      models: ["embed", "BAAI/bge-small-en-v1.5"],
      owner: "team-search",
      expiresAtMs: BigInt(Date.parse("2099-01-01T00:00:00Z")),
    });
    expect(routed.limits).toMatchObject({ requestsPerSecond: 80, burst: 50 });

    // Nowhere else: not in a later answer, a list, an event, a log line, or Redis.
    const got = await api.rest("GET", `/keys/${id}`, undefined, { token: READ });
    const list = await api.rest("GET", "/keys");
    expect(list.body.keys.map((k: { id: string }) => k.id)).toContain(id);
    const dump = JSON.stringify(await redisSnapshot(api.redis, api.cp.keys.prefix));
    const events = JSON.stringify(await eventsOf(api, "api_key."));
    for (const text of [JSON.stringify(got.body), JSON.stringify(list.body), events, api.logs.join(""), dump]) expect(text).not.toContain(secret.slice(4));
    // Only the routers' entry holds the hash; the API never shows it.
    expect(JSON.stringify(got.body)).not.toContain(sha256(secret));
    expect(events).not.toContain(sha256(secret));
    w.stop();
  });

  it("changes limits, rotates (with and without grace) and revokes, each one delta to routers", async () => {
    const created = await api.rest("POST", "/keys", { name: "batch" });
    const id = created.body.id as string;
    const first = created.body.secret as string;
    const w = routerWatch();
    await w.until((m) => m.get("apiKey", id) !== undefined);

    const updated = await api.rest(
      "PUT",
      `/keys/${id}`,
      { name: "batch", limits: { requests_per_second: 10, burst: 5, tokens_per_minute: 60000 } },
      { headers: { "if-match": '"1"' } },
    );
    expect(updated.body).toMatchObject({ revision: 2, limits: { requests_per_second: 10, burst: 5, tokens_per_minute: 60000 } });
    await w.until((m) => m.get("apiKey", id)?.limits?.requestsPerSecond === 10);
    expect(w.mirror.get("apiKey", id)?.sha256).toBe(sha256(first));

    const rotated = await api.rest("POST", `/keys/${id}/rotate`, { grace_seconds: 60 });
    const second = rotated.body.secret as string;
    expect(second).not.toBe(first);
    expect(rotated.body.rotated_at).toEqual(expect.any(String));
    await w.until((m) => m.get("apiKey", id)?.sha256 === sha256(second));
    expect(w.mirror.get("apiKey", id)).toMatchObject({ previousSha256: sha256(first) });

    const third = (await api.rest("POST", `/keys/${id}/rotate`, {})).body.secret as string;
    await w.until((m) => m.get("apiKey", id)?.sha256 === sha256(third));
    expect(w.mirror.get("apiKey", id)?.previousSha256).toBe("");

    const revoked = await api.rest("POST", `/keys/${id}/revoke`);
    expect(revoked.body).toMatchObject({ revoked: true, revoked_at: expect.any(String) });
    const removal = await w.until((m) => m.get("apiKey", id) === undefined);
    expect(removal.kind.case === "delta" && removal.kind.value.removed.map((k) => k.key)).toEqual([{ case: "apiKey", value: id }]);
    expect(removal.kind.case === "delta" && removal.kind.value.upserted).toEqual([]);
    // Revocation is final; the record stays for audit until deleted.
    expect((await api.rest("POST", `/keys/${id}/rotate`, {})).body).toMatchObject({ code: "API_KEY_REVOKED" });
    expect((await api.rest("GET", `/keys/${id}`)).body.revoked).toBe(true);
    expect((await api.rest("DELETE", `/keys/${id}`)).status).toBe(204);
    expect((await api.rest("GET", `/keys/${id}`)).body).toMatchObject({ code: "API_KEY_NOT_FOUND", field: "id" });
    expect((await eventsOf(api, "api_key.")).filter((e) => e.message.includes(id)).map((e) => e.kind)).toEqual([
      "api_key.created",
      "api_key.updated",
      "api_key.rotated",
      "api_key.rotated",
      "api_key.revoked",
      "api_key.deleted",
    ]);
    for (const s of [first, second, third]) expect(api.logs.join("")).not.toContain(s.slice(4));
    w.stop();
  });

  it.each([
    ["a missing name", {}, "MISSING_FIELD", "name"],
    ["a zero rate", { name: "x", limits: { requests_per_second: 0 } }, "VALIDATION_ERROR", "limits.requests_per_second"],
    ["a fractional burst", { name: "x", limits: { burst: 2.5 } }, "VALIDATION_ERROR", "limits.burst"],
    ["a bad model", { name: "x", models: ["has space"] }, "VALIDATION_ERROR", "models.0"],
    ["a past expiry", { name: "x", expires_at: "2001-01-01T00:00:00Z" }, "VALIDATION_ERROR", "expires_at"],
    ["a malformed expiry", { name: "x", expires_at: "tomorrow" }, "VALIDATION_ERROR", "expires_at"],
    ["an unknown field", { name: "x", key: "tfk_mine" }, "VALIDATION_ERROR", "key"],
  ])("refuses %s, naming the field", async (_what, body, code, field) => {
    const res = await api.rest("POST", "/keys", body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code, field });
  });

  it("refuses a malformed id and a stale If-Match", async () => {
    expect((await api.rest("GET", "/keys/nope")).body).toMatchObject({ code: "VALIDATION_ERROR", field: "id" });
    const id = (await api.rest("POST", "/keys", { name: "locked" })).body.id;
    expect((await api.rest("POST", `/keys/${id}/revoke`, undefined, { headers: { "if-match": '"7"' } })).status).toBe(412);
    expect((await api.rest("POST", "/keys", { name: "x" }, { token: READ })).status).toBe(403);
  });
});

describe("API keys over Connect", () => {
  it("creates (the secret once), lists, rotates and revokes", async () => {
    const client = createClient(ApiKeyService, createGrpcTransport({ baseUrl: api.url, interceptors: [bearer(ADMIN)] }));
    const created = await client.createApiKey({ key: { name: "connect", models: ["embed"], limits: { requestsPerSecond: 5 } } });
    expect(created.secret).toMatch(/^tfk_/);
    expect(created.key).toMatchObject({ name: "connect", models: ["embed"], limits: { requestsPerSecond: 5, burst: 50 }, revision: 1n });
    const id = created.key!.id;
    expect((await client.getApiKey({ id })).key?.prefix).toBe(created.secret.slice(0, 8));
    expect((await client.listApiKeys({ pageSize: 1000 })).keys.map((k) => k.id)).toContain(id);
    const rotated = await client.rotateApiKey({ id, expectedRevision: 1n });
    expect(rotated.secret).not.toBe(created.secret);
    const err = await client.revokeApiKey({ id, expectedRevision: 1n }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.Aborted);
    expect(err?.metadata.get("x-error-code")).toBe("REVISION_MISMATCH");
    expect((await client.revokeApiKey({ id })).key?.revokedAtMs).toBeGreaterThan(0n);
    const bad = await client.createApiKey({ key: { name: "" } }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(bad?.metadata.get("x-error-field")).toBe("name");
    for (const s of [created.secret, rotated.secret]) expect(api.logs.join("")).not.toContain(s.slice(4));
  });
});
