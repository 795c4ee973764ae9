import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { READ, redisSnapshot } from "./api-fixtures.ts";
import { eventsOf, startCatalogApi } from "./catalog-fixtures.ts";

let api: Awaited<ReturnType<typeof startCatalogApi>>;
beforeAll(async () => {
  api = await startCatalogApi();
});
afterAll(async () => {
  await api.close();
});

const SECRET = "sk-upstream-0123456789abcdefSECRETxyz";

describe("aliases over REST", () => {
  it("creates, reads, lists, replaces, disables and deletes an alias, with ETags and an event for each change", async () => {
    const created = await api.rest("PUT", "/catalog/aliases/embed", {
      targets: [
        { model_id: "BAAI/bge-small-en-v1.5", weight: 95 },
        { instance: "bge-next", weight: 5 },
      ],
      description: "the default embedder",
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("etag")).toBe('"1"');
    expect(created.headers.get("location")).toBe("/catalog/aliases/embed");
    expect(created.body).toMatchObject({
      name: "embed",
      targets: [
        { model_id: "BAAI/bge-small-en-v1.5", weight: 95 },
        { instance: "bge-next", weight: 5 },
      ],
      enabled: true,
      revision: 1,
      description: "the default embedder",
    });

    const got = await api.rest("GET", "/catalog/aliases/embed", undefined, { token: READ });
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);

    // The same PUT again changes nothing: no revision, no event (what `teictl apply` relies on).
    const again = await api.rest("PUT", "/catalog/aliases/embed", {
      targets: [
        { model_id: "BAAI/bge-small-en-v1.5", weight: 95 },
        { instance: "bge-next", weight: 5 },
      ],
      description: "the default embedder",
    });
    expect(again.status).toBe(200);
    expect(again.body.revision).toBe(1);

    const replaced = await api.rest("PUT", "/catalog/aliases/embed", { targets: [{ model_id: "BAAI/bge-small-en-v1.5" }] }, { headers: { "if-match": '"1"' } });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ revision: 2, targets: [{ model_id: "BAAI/bge-small-en-v1.5", weight: 1 }], description: "" });

    const disabled = await api.rest("PATCH", "/catalog/aliases/embed", { enabled: false, reason: "migrating" });
    expect(disabled.body).toMatchObject({ enabled: false, reason: "migrating", revision: 3 });
    const enabled = await api.rest("PATCH", "/catalog/aliases/embed", { enabled: true });
    expect(enabled.body).toMatchObject({ enabled: true, reason: "", revision: 4 });

    const list = await api.rest("GET", "/catalog/aliases");
    expect(list.body.aliases.map((a: { name: string }) => a.name)).toContain("embed");

    expect((await api.rest("DELETE", "/catalog/aliases/embed")).status).toBe(204);
    expect((await api.rest("GET", "/catalog/aliases/embed")).body).toMatchObject({ code: "ALIAS_NOT_FOUND", field: "name" });

    expect((await eventsOf(api, "catalog.alias.")).map((e) => e.kind)).toEqual([
      "catalog.alias.created",
      "catalog.alias.updated",
      "catalog.alias.disabled",
      "catalog.alias.enabled",
      "catalog.alias.deleted",
    ]);
  });

  it("refuses a write whose If-Match is stale with 412, and keeps the entry", async () => {
    await api.rest("PUT", "/catalog/aliases/locked", { targets: [{ model_id: "m1" }] });
    await api.rest("PUT", "/catalog/aliases/locked", { targets: [{ model_id: "m2" }] });
    const stale = await api.rest("PUT", "/catalog/aliases/locked", { targets: [{ model_id: "m3" }] }, { headers: { "if-match": '"1"' } });
    expect(stale.status).toBe(412);
    expect(stale.body).toMatchObject({ code: "PRECONDITION_FAILED", field: "If-Match" });
    const del = await api.rest("DELETE", "/catalog/aliases/locked", undefined, { headers: { "if-match": '"1"' } });
    expect(del.status).toBe(412);
    expect((await api.rest("GET", "/catalog/aliases/locked")).body.targets).toEqual([{ model_id: "m2", weight: 1 }]);
  });

  it("pages lists in name order", async () => {
    for (const n of ["page-a", "page-b", "page-c"]) await api.rest("PUT", `/catalog/aliases/${n}`, { targets: [{ model_id: "m" }] });
    const first = await api.rest("GET", "/catalog/aliases?limit=2&after=page-");
    expect(first.body.aliases.map((a: { name: string }) => a.name)).toEqual(["page-a", "page-b"]);
    expect(first.body.next_cursor).toBe("page-b");
    const second = await api.rest("GET", `/catalog/aliases?limit=2&after=${first.body.next_cursor}`);
    expect(second.body.aliases[0].name).toBe("page-c");
    expect((await api.rest("GET", "/catalog/aliases?limit=0")).body).toMatchObject({ code: "VALIDATION_ERROR", field: "limit" });
  });

  it.each([
    ["a bad alias name", "/catalog/aliases/Bad_Name", { targets: [{ model_id: "m" }] }, 400, "VALIDATION_ERROR", "name"],
    ["no targets", "/catalog/aliases/x1", { targets: [] }, 400, "VALIDATION_ERROR", "targets"],
    ["a missing targets field", "/catalog/aliases/x1", {}, 400, "MISSING_FIELD", "targets"],
    ["a zero weight", "/catalog/aliases/x1", { targets: [{ model_id: "m", weight: 0 }] }, 400, "VALIDATION_ERROR", "targets.0.weight"],
    ["a fractional weight", "/catalog/aliases/x1", { targets: [{ model_id: "m", weight: 1.5 }] }, 400, "VALIDATION_ERROR", "targets.0.weight"],
    ["a target naming two things", "/catalog/aliases/x1", { targets: [{ model_id: "m", instance: "i" }] }, 400, "VALIDATION_ERROR", "targets.0"],
    ["a target naming nothing", "/catalog/aliases/x1", { targets: [{ weight: 3 }] }, 400, "VALIDATION_ERROR", "targets.0"],
    ["a bad instance name", "/catalog/aliases/x1", { targets: [{ instance: "Has/Slash" }] }, 400, "VALIDATION_ERROR", "targets.0.instance"],
    ["a duplicate target", "/catalog/aliases/x1", { targets: [{ model_id: "m" }, { model_id: "m" }] }, 400, "VALIDATION_ERROR", "targets.1"],
    ["an unknown field", "/catalog/aliases/x1", { targets: [{ model_id: "m" }], colour: "red" }, 400, "VALIDATION_ERROR", "colour"],
    ["a renaming body", "/catalog/aliases/x1", { name: "x2", targets: [{ model_id: "m" }] }, 400, "VALIDATION_ERROR", "name"],
    ["an alias pointing to itself", "/catalog/aliases/x1", { targets: [{ alias: "x1" }] }, 422, "ALIAS_CYCLE", "targets.0.alias"],
  ])("refuses %s, naming the field", async (_what, path, body, status, code, field) => {
    const res = await api.rest("PUT", path, body);
    expect(res.status).toBe(status);
    expect(res.body).toMatchObject({ code, field });
    expect(res.body.error).toEqual(expect.any(String));
  });

  it("refuses a cycle through other aliases and a chain deeper than four, naming the path", async () => {
    await api.rest("PUT", "/catalog/aliases/cy-b", { targets: [{ alias: "cy-c" }] });
    await api.rest("PUT", "/catalog/aliases/cy-c", { targets: [{ model_id: "m" }] });
    const cycle = await api.rest("PUT", "/catalog/aliases/cy-c", { targets: [{ model_id: "m" }, { alias: "cy-b" }] });
    expect(cycle.status).toBe(422);
    expect(cycle.body).toMatchObject({ code: "ALIAS_CYCLE", field: "targets.1.alias" });
    expect(cycle.body.error).toContain("cy-c → cy-b → cy-c");
    await api.rest("PUT", "/catalog/aliases/d1", { targets: [{ alias: "d2" }] });
    await api.rest("PUT", "/catalog/aliases/d2", { targets: [{ alias: "d3" }] });
    await api.rest("PUT", "/catalog/aliases/d3", { targets: [{ alias: "d4" }] });
    const deep = await api.rest("PUT", "/catalog/aliases/d4", { targets: [{ alias: "d5" }] });
    expect(deep.status).toBe(422);
    expect(deep.body).toMatchObject({ code: "ALIAS_CYCLE", field: "targets" });
  });

  it("needs the admin token to write and the read token to read", async () => {
    expect((await api.rest("PUT", "/catalog/aliases/tok", { targets: [{ model_id: "m" }] }, { token: READ })).status).toBe(403);
    expect((await api.rest("GET", "/catalog/aliases", undefined, { token: null })).status).toBe(401);
  });
});

describe("model switches over REST", () => {
  it("disables and enables a model id (its '/' kept in the path) and lists it", async () => {
    const off = await api.rest("PATCH", "/catalog/models/BAAI/bge-small-en-v1.5", { enabled: false, reason: "bad revision" });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ model_id: "BAAI/bge-small-en-v1.5", enabled: false, reason: "bad revision", revision: 1 });
    expect((await api.rest("GET", "/catalog/models/BAAI%2Fbge-small-en-v1.5")).body.enabled).toBe(false);
    const on = await api.rest("PUT", "/catalog/models/BAAI/bge-small-en-v1.5", { enabled: true }, { headers: { "if-match": "1" } });
    expect(on.body).toMatchObject({ enabled: true, revision: 2 });
    expect((await api.rest("GET", "/catalog/models")).body.models.map((m: { model_id: string }) => m.model_id)).toContain("BAAI/bge-small-en-v1.5");
    expect((await api.rest("PATCH", "/catalog/models/BAAI/bge-small-en-v1.5", { enabled: "no" })).body).toMatchObject({
      code: "VALIDATION_ERROR",
      field: "enabled",
    });
    expect((await api.rest("DELETE", "/catalog/models/BAAI/bge-small-en-v1.5")).status).toBe(204);
    expect((await api.rest("GET", "/catalog/models/BAAI/bge-small-en-v1.5")).body).toMatchObject({ code: "MODEL_NOT_FOUND", field: "model_id" });
    expect((await api.rest("PUT", "/catalog/models/-flag", {})).body).toMatchObject({ code: "VALIDATION_ERROR", field: "model_id" });
    expect((await eventsOf(api, "catalog.model.")).map((e) => e.kind)).toEqual(["catalog.model.disabled", "catalog.model.updated", "catalog.model.deleted"]);
  });
});

describe("remote backends over REST", () => {
  it("stores an upstream key as a secret: never in an answer, an event or a log line", async () => {
    const created = await api.rest("PUT", "/catalog/backends/openai-small", {
      kind: "openai",
      url: "https://api.example.com/v1",
      upstream_model: "text-embedding-3-small",
      api_key: SECRET,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: "openai-small",
      kind: "openai",
      has_api_key: true,
      api_key_hint: "…Txyz",
      health: { status: "unknown" },
    });
    expect(created.body).not.toHaveProperty("api_key");
    // A PUT without api_key keeps the key; null removes it.
    const kept = await api.rest("PUT", "/catalog/backends/openai-small", {
      kind: "openai",
      url: "https://api.example.com/v1",
      upstream_model: "text-embedding-3-large",
    });
    expect(kept.body).toMatchObject({ has_api_key: true, upstream_model: "text-embedding-3-large", revision: 2 });
    const listed = await api.rest("GET", "/catalog/backends");
    const got = await api.rest("GET", "/catalog/backends/openai-small");
    const bad = await api.rest("PUT", "/catalog/backends/openai-small", { kind: "openai", url: "https://api.example.com/v1", api_key: `${SECRET} with space` });
    expect(bad.body).toMatchObject({ code: "VALIDATION_ERROR", field: "api_key" });
    const events = await eventsOf(api, "catalog.backend.");
    expect(events.map((e) => e.kind)).toEqual(["catalog.backend.created", "catalog.backend.updated"]);
    for (const text of [JSON.stringify(listed.body), JSON.stringify(got.body), JSON.stringify(bad.body), JSON.stringify(events), api.logs.join("")]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain("0123456789abcdefSECRET");
    }
    const removed = await api.rest("PUT", "/catalog/backends/openai-small", { kind: "openai", url: "https://api.example.com/v1", api_key: null });
    expect(removed.body).toMatchObject({ has_api_key: false, api_key_hint: "" });
  });

  it.each([
    ["an unknown kind", { kind: "grpc", url: "http://x" }, "kind"],
    ["a missing url", { kind: "tei" }, "url"],
    ["a non-http url", { kind: "tei", url: "ftp://x/y" }, "url"],
    ["credentials in the url", { kind: "tei", url: "https://user:pw@x.example/" }, "url"],
    ["a zero timeout", { kind: "tei", url: "http://x:8080", timeout_ms: 0 }, "timeout_ms"],
  ])("refuses %s, naming the field", async (_what, body, field) => {
    const res = await api.rest("PUT", "/catalog/backends/bad-backend", body);
    expect(res.status).toBe(400);
    expect(res.body.field).toBe(field);
    expect(res.body.error).not.toContain("pw@");
  });

  it("health-checks a backend and records only changes of the verdict", async () => {
    const { createServer } = await import("node:http");
    let status = 200;
    const seen: Array<string | undefined> = [];
    const server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(req.url === "/health" ? status : 404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      await api.rest("PUT", "/catalog/backends/local-tei", { kind: "tei", url: `http://127.0.0.1:${port}`, api_key: SECRET });
      const { createCatalog } = await import("../src/catalog/index.ts");
      const { pino } = await import("pino");
      const catalog = createCatalog({ redis: api.cp.redis, keys: api.cp.keys, logger: pino({ level: "silent" }), probeIntervalMs: 0 });
      await catalog.health.probeAll();
      expect((await api.rest("GET", "/catalog/backends/local-tei")).body.health.status).toBe("healthy");
      await catalog.health.probeAll();
      status = 503;
      await catalog.health.probeAll();
      const unhealthy = (await api.rest("GET", "/catalog/backends/local-tei")).body;
      expect(unhealthy.health).toMatchObject({ status: "unhealthy", error: "GET /health answered 503" });
      expect(unhealthy.revision).toBe(1);
      expect(seen.every((h) => h === `Bearer ${SECRET}`)).toBe(true);
      expect((await eventsOf(api, "catalog.backend.")).filter((e) => e.message.includes("local-tei")).map((e) => e.kind)).toEqual([
        "catalog.backend.created",
        "catalog.backend.healthy",
        "catalog.backend.unhealthy",
      ]);
    } finally {
      server.close();
    }
  });
});

it("keeps every write of the catalog in the one Redis history routers watch", async () => {
  const before = await redisSnapshot(api.redis, api.cp.keys.prefix);
  const version = Number(before[api.cp.keys.routesVersion()] ?? 0);
  await api.rest("PUT", "/catalog/aliases/history", { targets: [{ model_id: "m" }] });
  expect(Number(await api.redis.get(api.cp.keys.routesVersion()))).toBe(version + 1);
});

it("answers a wrong method on a catalog path with 405 and Allow", async () => {
  const res = await api.rest("POST", "/catalog/aliases/some-alias", {});
  expect(res.status).toBe(405);
  expect(res.headers.get("allow")).toContain("PUT");
});

it("answers 404 for a conditional change of a missing entry, and 412 for a conditional create", async () => {
  expect((await api.rest("DELETE", "/catalog/aliases/never-made", undefined, { headers: { "if-match": '"1"' } })).status).toBe(404);
  expect((await api.rest("PATCH", "/catalog/backends/never-made", { enabled: false }, { headers: { "if-match": '"1"' } })).body.code).toBe("BACKEND_NOT_FOUND");
  expect((await api.rest("PUT", "/catalog/aliases/never-made", { targets: [{ model_id: "m" }] }, { headers: { "if-match": '"1"' } })).status).toBe(412);
});

it("documents the catalog and key routes in the OpenAPI document", async () => {
  const doc = await api.rest("GET", "/openapi.json", undefined, { token: null });
  expect(Object.keys(doc.body.paths)).toEqual(
    expect.arrayContaining(["/catalog/aliases", "/catalog/aliases/{name}", "/catalog/backends/{name}", "/keys", "/keys/{id}/rotate"]),
  );
});

it("never lets two concurrent writes make a cycle together", async () => {
  for (let i = 0; i < 10; i++) {
    const [a, b] = [`race-a${i}`, `race-b${i}`];
    const results = await Promise.all([
      api.rest("PUT", `/catalog/aliases/${a}`, { targets: [{ alias: b }] }),
      api.rest("PUT", `/catalog/aliases/${b}`, { targets: [{ alias: a }] }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 422]);
  }
});
