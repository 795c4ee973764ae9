/**
 * API keys through the whole system: keys created through the control plane reach every router
 * in the route watch and are checked on the HTTP gateway; a key revoked through the control plane
 * stops working on 3 routers within a second; and neither a key nor its hash ever shows in a
 * router's log.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalFleet, startLocalFleet, waitFor } from "../harness/index.ts";

const MODEL = "BAAI/bge-small-en-v1.5";
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

async function embed(http: string, key: string | undefined, model = MODEL): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (key !== undefined) headers.authorization = `Bearer ${key}`;
  const res = await fetch(`${http}/v1/embeddings`, { method: "POST", headers, body: JSON.stringify({ model, input: "hello" }) });
  return { status: res.status, body: await res.json() };
}

describe("API keys from the control plane on 3 routers", () => {
  let fleet: LocalFleet;
  let https: string[];
  let secretAll = "";

  beforeAll(async () => {
    fleet = await startLocalFleet({ agents: 1, routers: 3, gateway: true, routerArgs: ["--require-api-keys", "true"] });
    https = fleet.routers.map((r) => r.httpUrl as string);
    expect((await fleet.api("POST", "/instances", { name: "small", model_id: MODEL })).status).toBe(201);
    const all = await fleet.api("POST", "/keys", { name: "all-models", owner: "team-a" });
    expect(all.status).toBe(201);
    secretAll = all.body.secret as string;
    for (const http of https) await waitFor(`${http} serves the model to a key`, async () => (await embed(http, secretAll)).status === 200, 60_000);
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
  }, 60_000);

  it("refuses calls without a key, allows a known key, and a key limited to other models gets 403", async () => {
    const limited = await fleet.api("POST", "/keys", { name: "limited", owner: "team-b", models: ["embed"] });
    expect(limited.status).toBe(201);
    for (const http of https) expect((await embed(http, secretAll)).status).toBe(200);
    const none = await embed(https[0] as string, undefined);
    expect(none.status).toBe(401);
    expect(await embed(https[0] as string, "tfk_not-a-real-key")).toMatchObject({ status: 401 });
    const denied = await waitFor("the limited key", async () => {
      const r = await embed(https[1] as string, limited.body.secret as string);
      return r.status === 403 ? r : undefined;
    });
    expect(JSON.stringify(denied.body)).toContain("limited");
    expect(JSON.stringify(denied.body)).not.toContain(limited.body.secret as string);
  }, 30_000);

  it("a key revoked through the control plane stops working on all 3 routers within 1 s; no key or hash in their logs", async () => {
    const created = await fleet.api("POST", "/keys", { name: "to-revoke", owner: "team-c" });
    expect(created.status).toBe(201);
    const secret = created.body.secret as string;
    const id = created.body.id as string;
    for (const http of https) await waitFor(`the key on ${http}`, async () => (await embed(http, secret)).status === 200, 10_000);

    const revokedAt = Date.now();
    const revoked = await fleet.api("POST", `/keys/${id}/revoke`);
    expect(revoked.status).toBeLessThan(300);
    const took = await Promise.all(
      https.map(async (http) => {
        for (;;) {
          const r = await embed(http, secret);
          if (r.status === 401) return Date.now() - revokedAt;
          if (Date.now() - revokedAt > 5000) return Number.POSITIVE_INFINITY;
          await new Promise((res) => setTimeout(res, 10));
        }
      }),
    );
    console.info(`revocation effective on the 3 routers after ${took.join(", ")} ms`);
    expect(Math.max(...took)).toBeLessThan(1000);

    const hash = sha256(secret);
    for (const r of fleet.routers) {
      const log = r.process.log();
      expect(log.length).toBeGreaterThan(0);
      expect(log).not.toContain(secret);
      expect(log).not.toContain(hash);
      expect(log).not.toContain(secretAll);
      expect(log).not.toContain(sha256(secretAll));
      expect(log).not.toContain(secret.slice(4, 24));
    }
  }, 30_000);
});
