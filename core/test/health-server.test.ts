import { Counter, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { type HealthServer, startHealthServer } from "../src/service/health-server.ts";

let server: HealthServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const get = async (path: string, method = "GET") => {
  const res = await fetch(`${server!.url}${path}`, { method });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
};

describe("health server", () => {
  it("answers /healthz while alive and /readyz 503 until the service is ready, then 200, with JSON bodies", async () => {
    let ready = false;
    server = await startHealthServer({
      host: "127.0.0.1",
      port: 0,
      live: () => ({ ok: true, details: { uptime: 1 } }),
      ready: () => ({ ok: ready, details: { table: ready ? "loaded" : "none" } }),
    });
    const live = await get("/healthz");
    expect(live).toMatchObject({ status: 200, type: "application/json; charset=utf-8" });
    expect(JSON.parse(live.text)).toEqual({ status: "ok", uptime: 1 });
    const before = await get("/readyz");
    expect(before.status).toBe(503);
    expect(JSON.parse(before.text)).toEqual({ status: "unavailable", table: "none" });
    ready = true;
    const after = await get("/readyz");
    expect(after.status).toBe(200);
    expect(JSON.parse(after.text)).toEqual({ status: "ok", table: "loaded" });
  });

  it("serves /metrics from the service's registry", async () => {
    const registry = new Registry();
    new Counter({ name: "tei_test_things_total", help: "things", registers: [registry] }).inc(3);
    server = await startHealthServer({ host: "127.0.0.1", port: 0, registry });
    const metrics = await get("/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.type).toBe(registry.contentType);
    expect(metrics.text).toContain("tei_test_things_total 3");
  });

  it("is not ready when the readiness check throws or does not answer in time", async () => {
    let mode: "throw" | "hang" = "throw";
    server = await startHealthServer({
      host: "127.0.0.1",
      port: 0,
      checkTimeoutMs: 100,
      ready: () => (mode === "throw" ? Promise.reject(new Error("redis is down")) : new Promise(() => {})),
    });
    expect(await get("/readyz")).toMatchObject({ status: 503, text: JSON.stringify({ status: "unavailable", error: "redis is down" }) });
    mode = "hang";
    const hung = await get("/readyz");
    expect(hung.status).toBe(503);
    expect(JSON.parse(hung.text).error).toBe("the check did not answer within 100 ms");
  });

  it("answers 404 for other paths, 405 for other methods, and has no /metrics without a registry", async () => {
    server = await startHealthServer({ host: "127.0.0.1", port: 0 });
    expect((await get("/metrics")).status).toBe(404);
    expect((await get("/nothing")).status).toBe(404);
    expect((await get("/healthz", "POST")).status).toBe(405);
    expect((await get("/healthz?verbose=1")).status).toBe(200);
  });
});
