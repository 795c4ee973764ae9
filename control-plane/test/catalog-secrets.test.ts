import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { backendSecretContext, SecretsKey, SecretsKeyring } from "@tei-fleet/core/secrets";
import { type CatalogBackend, RouteService } from "@tei-fleet/proto/fleet/v1";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCatalog } from "../src/catalog/index.ts";
import { bearer, JOIN, redisSnapshot } from "./api-fixtures.ts";
import { eventsOf, startCatalogApi } from "./catalog-fixtures.ts";

// With the fleet's secrets key (TEI_FLEET_SECRETS_KEY), a remote backend's upstream key is sealed
// wherever it rests or travels: Redis, and the route watch routers follow. Only processes that
// hold the key (the control plane's prober, routers) open it.
const SECRET = "sk-upstream-0123456789abcdefSECRETxyz";
const secretsKey = SecretsKey.parse(randomBytes(32).toString("base64"));

let api: Awaited<ReturnType<typeof startCatalogApi>>;
let upstream: Server;
let upstreamUrl: string;
const seenAuth: Array<string | undefined> = [];
beforeAll(async () => {
  api = await startCatalogApi({ secrets: new SecretsKeyring(secretsKey) });
  upstream = createServer((req, res) => {
    seenAuth.push(req.headers.authorization);
    res.writeHead(req.url === "/health" ? 200 : 404).end();
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await api.close();
  upstream.close();
});

/** The route watch's snapshot, as a router with the join token takes it: the catalog's backends. */
async function watchedBackends(): Promise<CatalogBackend[]> {
  const client = createClient(RouteService, createGrpcTransport({ baseUrl: api.url, interceptors: [bearer(JOIN)] }));
  const abort = new AbortController();
  try {
    for await (const res of client.watchRouteChanges({}, { signal: abort.signal })) {
      const e = res.event;
      if (e?.kind.case !== "snapshot") continue;
      return e.kind.value.entries.flatMap((x) => (x.value.case === "catalogBackend" ? [x.value.value] : []));
    }
    throw new Error("watch ended without a snapshot");
  } finally {
    abort.abort();
  }
}

const catalogWith = (key?: SecretsKey, previous: SecretsKey[] = []) =>
  createCatalog({
    redis: api.cp.redis,
    keys: api.cp.keys,
    logger: pino({ level: "silent" }),
    probeIntervalMs: 0,
    secrets: key === undefined ? undefined : new SecretsKeyring(key, previous),
  });

describe("upstream API keys under the fleet's secrets key", () => {
  it("are sealed in Redis and on the route watch, opened by the prober, and never shown", async () => {
    const created = await api.rest("PUT", "/catalog/backends/sealed-tei", { kind: "tei", url: upstreamUrl, api_key: SECRET });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ has_api_key: true, api_key_hint: "…Txyz" });
    // Nothing in Redis holds the key: not the entry, not its event, not the watch's change log.
    expect(JSON.stringify(await redisSnapshot(api.redis, api.cp.keys.prefix))).not.toContain(SECRET);
    const [watched] = (await watchedBackends()).filter((b) => b.backend?.name === "sealed-tei");
    expect(watched?.apiKey).toBe("");
    expect(watched?.sealedApiKey).toMatch(new RegExp(`^tfs1\\.${secretsKey.id}\\.`));
    expect(secretsKey.open(watched?.sealedApiKey ?? "", backendSecretContext("sealed-tei"))).toBe(SECRET);
    // The prober sends the key itself.
    await catalogWith(secretsKey).health.probeAll();
    expect(seenAuth).toEqual([`Bearer ${SECRET}`]);
    expect((await api.rest("GET", "/catalog/backends/sealed-tei")).body.health.status).toBe("healthy");
    // The same key again is no change (a new seal is not a new key): no revision, no event.
    const again = await api.rest("PUT", "/catalog/backends/sealed-tei", { kind: "tei", url: upstreamUrl, api_key: SECRET });
    expect(again.status).toBe(200);
    expect(again.body.revision).toBe(created.body.revision);
    const events = await eventsOf(api, "catalog.backend.");
    expect(events.filter((e) => e.message.includes("sealed-tei")).map((e) => e.kind)).toEqual(["catalog.backend.created", "catalog.backend.healthy"]);
    expect(api.logs.join("")).not.toContain(SECRET);
    expect(api.logs.join("")).toContain(`"secretsKeys":"key ${secretsKey.id}"`);
  });

  it("a key stored in plaintext before the secrets key was set is sealed by the entry's next write", async () => {
    await catalogWith(undefined).backends.put("older-tei", { kind: "tei", url: upstreamUrl, api_key: SECRET }, undefined);
    expect(JSON.stringify(await redisSnapshot(api.redis, api.cp.keys.prefix))).toContain(SECRET);
    const updated = await api.rest("PUT", "/catalog/backends/older-tei", { kind: "tei", url: upstreamUrl, description: "now sealed" });
    expect(updated.body).toMatchObject({ has_api_key: true, api_key_hint: "…Txyz", description: "now sealed" });
    expect(JSON.stringify(await redisSnapshot(api.redis, api.cp.keys.prefix))).not.toContain(SECRET);
  });

  it("a prober without the key (or with another) does not call the backend keyless, and says why", async () => {
    await api.rest("PUT", "/catalog/backends/sealed-b", { kind: "tei", url: upstreamUrl, api_key: SECRET });
    const before = seenAuth.length;
    const other = SecretsKey.parse(randomBytes(32).toString("base64"));
    await catalogWith(undefined).health.probeAll();
    expect((await api.rest("GET", "/catalog/backends/sealed-b")).body.health).toMatchObject({
      status: "unhealthy",
      error: "not probed: its API key is sealed and this process has no TEI_FLEET_SECRETS_KEY",
    });
    await catalogWith(other).health.probeAll();
    expect((await api.rest("GET", "/catalog/backends/sealed-b")).body.health.error).toBe(
      `not probed: sealed under secrets key ${secretsKey.id}; this process has key ${other.id}`,
    );
    expect(seenAuth.length).toBe(before); // neither called the backend
  });

  it("a rotation: the new key with the old one as previous opens both, and resealAll moves every key under the new one", async () => {
    const next = SecretsKey.parse(randomBytes(32).toString("base64"));
    await api.rest("PUT", "/catalog/backends/rotated", { kind: "tei", url: upstreamUrl, api_key: SECRET });
    const rotated = catalogWith(next, [secretsKey]);
    const before = seenAuth.length;
    await rotated.health.probeAll();
    expect(seenAuth.slice(before).every((h) => h === `Bearer ${SECRET}`)).toBe(true);
    expect(seenAuth.length).toBeGreaterThan(before);
    const n = await rotated.backends.resealAll();
    expect(n).toBeGreaterThanOrEqual(1);
    const [entry] = (await rotated.backends.allWithKeys()).filter((b) => b.backend?.name === "rotated");
    expect(entry?.sealedApiKey).toMatch(new RegExp(`^tfs1\\.${next.id}\\.`));
    expect(next.open(entry?.sealedApiKey ?? "", backendSecretContext("rotated"))).toBe(SECRET);
    // The operator's entry is the same: revision kept; the reseal is an event; a second pass finds nothing.
    expect((await api.rest("GET", "/catalog/backends/rotated")).body.revision).toBe(1);
    expect((await eventsOf(api, "catalog.backend.resealed")).some((e) => e.message === `backend 'rotated': API key sealed under secrets key ${next.id}`)).toBe(
      true,
    );
    expect(await rotated.backends.resealAll()).toBe(0);
    // Once every router has the new key, the old one can go: nothing is sealed under it any more.
    for (const b of await rotated.backends.allWithKeys()) if (b.sealedApiKey !== "") expect(b.sealedApiKey.split(".")[1]).toBe(next.id);
  });
});
