/**
 * Per-key usage through the whole system: calls made with a key on two routers (keys required,
 * keys created through the control plane's REST) are counted by the routers, reported to the
 * control plane (AdmissionService.ReportUsage) and readable at GET /keys/{id}/usage within 2 s,
 * and on the control plane's /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalFleet, startLocalFleet, waitFor } from "../harness/index.ts";

const MODEL = "BAAI/bge-small-en-v1.5";

async function embed(http: string, key: string, input: string | string[] = "hello"): Promise<number> {
  const res = await fetch(`${http}/v1/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: MODEL, input }),
  });
  await res.arrayBuffer();
  return res.status;
}

describe("per-key usage on 2 routers", () => {
  let fleet: LocalFleet;
  let https: string[];

  beforeAll(async () => {
    fleet = await startLocalFleet({ agents: 1, routers: 2, gateway: true, routerArgs: ["--require-api-keys", "true"] });
    https = fleet.routers.map((r) => r.httpUrl as string);
    expect((await fleet.api("POST", "/instances", { name: "small", model_id: MODEL })).status).toBe(201);
    const warm = await fleet.api("POST", "/keys", { name: "warm-up", owner: "ops" });
    for (const http of https) await waitFor(`${http} serves the model to a key`, async () => (await embed(http, warm.body.secret as string)) === 200, 60_000);
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
  }, 60_000);

  it("10 calls with a key appear in GET /keys/{id}/usage within 2 s", async () => {
    const created = await fleet.api("POST", "/keys", { name: "billed", owner: "team-bill" });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const secret = created.body.secret as string;
    for (const http of https) await waitFor(`the key on ${http}`, async () => (await embed(http, secret)) === 200, 10_000);
    // The two warm-up calls above count too: 2 + 8 = 10 requests; one of the 8 embeds a batch of
    // 5 inputs, which usage counts as 5 (10 + 4 = 14 inputs), as OpenAI and LiteLLM count them.
    for (let i = 0; i < 8; i++) expect(await embed(https[i % 2] as string, secret, i === 3 ? ["a", "b", "c", "d", "e"] : "hello")).toBe(200);
    const done = Date.now();
    const usage = await waitFor(
      "the usage of the key",
      async () => {
        const r = await fleet.api("GET", `/keys/${id}/usage`);
        return r.status === 200 && r.body.total.requests === 10 ? r.body : undefined;
      },
      2000,
    );
    console.info(`usage visible after ${Date.now() - done} ms`);
    expect(usage.total).toMatchObject({ requests: 10, inputs: 14 });
    expect(usage.models.map((m: { model: string }) => m.model)).toHaveLength(1);
    const grouped = await fleet.api("GET", "/usage?group_by=owner");
    expect(grouped.body.groups.find((g: { owner: string }) => g.owner === "team-bill")?.requests).toBe(10);
  }, 30_000);
});
