import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../test/harness/redis-server.ts";
import { type ApiFixture, startApi, waitFor } from "./api-fixtures.ts";

// A Redis of its own, to take away and bring back.
let redis: RedisServer;
let api: ApiFixture;
beforeAll(async () => {
  redis = await startRedisServer({ persistent: true });
  api = await startApi({ redisUrl: redis.url });
  expect((await api.rest("POST", "/instances", { name: "kept", model_id: "m/m" })).status).toBe(201);
});
afterAll(async () => {
  await api?.close();
  await redis?.stop();
});

describe("when Redis is away", () => {
  it("API calls fail fast with 503 BACKEND_UNAVAILABLE, /health stays up, and everything works again when it is back", async () => {
    const ready = () => api.rest("GET", "/readyz", undefined, { token: null });
    expect(await ready()).toMatchObject({ status: 200, body: { status: "ok", redis: "ok" } });
    await redis.kill();
    const started = Date.now();
    const res = await api.rest("GET", "/instances/kept");
    expect(Date.now() - started).toBeLessThan(5000);
    expect(res.status).toBe(503);
    expect(res.body.code).toBe("BACKEND_UNAVAILABLE");
    const create = await api.rest("POST", "/instances", { name: "lost", model_id: "m/m" });
    expect(create.status).toBe(503);
    expect((await api.rest("GET", "/health", undefined, { token: null })).status).toBe(200);
    expect((await api.rest("GET", "/metrics", undefined, { token: null })).status).toBe(200);
    // Alive but not ready: a balancer stops sending work here, nothing restarts it.
    expect(await api.rest("GET", "/healthz", undefined, { token: null })).toMatchObject({ status: 200, body: { status: "ok" } });
    expect(await ready()).toMatchObject({ status: 503, body: { status: "unavailable" } });

    await redis.restart();
    await waitFor("the API to reach Redis again", async () => (await api.rest("GET", "/instances/kept")).status === 200, 15_000);
    expect((await ready()).status).toBe(200);
    expect((await api.rest("POST", "/instances", { name: "after", model_id: "m/m" })).status).toBe(201);
  });
});
