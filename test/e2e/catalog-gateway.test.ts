/**
 * The model catalog through the whole system: aliases, switches and remote backends written to
 * the control plane's REST API reach a router's HTTP gateway through the route watch, and the
 * gateway acts on them: a canary alias splits 95/5, a disabled model is refused while its
 * replicas keep running, a remote OpenAI-compatible endpoint is served under a name to the
 * official openai SDK with the upstream key and model it needs, which never show in a log.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalFleet, startLocalFleet, waitFor } from "../harness/index.ts";

const BGE = "BAAI/bge-small-en-v1.5";
const NEXT = "BAAI/bge-base-en-v1.5";
const UPSTREAM_KEY = `sk-upstream-${Math.random().toString(36).slice(2)}xyz`;

interface UpstreamCall {
  path: string;
  authorization: string | undefined;
  model: unknown;
  input: unknown;
}

/** A small OpenAI-compatible embeddings endpoint (float and base64 answers, `GET /v1/models` for the control plane's probe). */
function openaiUpstream(): { server: Server; calls: UpstreamCall[] } {
  const calls: UpstreamCall[] = [];
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => {
      raw += c.toString();
    });
    req.on("end", () => {
      if (req.method === "GET") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ object: "list", data: [{ id: "text-embedding-3-small", object: "model" }] }));
        return;
      }
      const body = JSON.parse(raw) as { model: unknown; input: string | string[]; encoding_format?: string };
      calls.push({ path: req.url ?? "", authorization: req.headers.authorization, model: body.model, input: body.input });
      const inputs = Array.isArray(body.input) ? body.input : [body.input];
      const data = inputs.map((s, index) => {
        const v = [s.length, 0.5, -0.25, 1];
        const embedding = body.encoding_format === "base64" ? Buffer.from(new Float32Array(v).buffer).toString("base64") : v;
        return { object: "embedding", index, embedding };
      });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data, model: body.model, usage: { prompt_tokens: 7, total_tokens: 7 } }));
    });
  });
  return { server, calls };
}

/** True when some value in the fleet's Redis (strings, hashes, streams, lists, sets) contains `text`. */
async function redisHolds(f: LocalFleet, text: string): Promise<boolean> {
  const redis = new Redis(f.redis.url);
  try {
    for (const key of await redis.keys("*")) {
      const type = await redis.type(key);
      const value =
        type === "string"
          ? await redis.get(key)
          : type === "hash"
            ? await redis.hgetall(key)
            : type === "stream"
              ? await redis.xrange(key, "-", "+")
              : type === "list"
                ? await redis.lrange(key, 0, -1)
                : type === "zset"
                  ? await redis.zrange(key, 0, -1)
                  : type === "set"
                    ? await redis.smembers(key)
                    : null;
      if (JSON.stringify(value).includes(text)) return true;
    }
    return false;
  } finally {
    redis.disconnect();
  }
}

async function embed(http: string, model: string, path = "/v1/embeddings") {
  const body = path === "/embed" ? { model, inputs: ["hello"] } : { model, input: "hello" };
  const res = await fetch(`${http}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers by their fields
  return { status: res.status, instance: res.headers.get("x-tei-instance"), body: (await res.json()) as any };
}

describe("the model catalog on the gateway, end to end", () => {
  let fleet: LocalFleet;
  let http: string;
  const upstream = openaiUpstream();

  beforeAll(async () => {
    await new Promise<void>((r) => upstream.server.listen(0, "127.0.0.1", r));
    fleet = await startLocalFleet({ agents: 2, gateway: true });
    http = fleet.routers[0]?.httpUrl as string;
    expect((await fleet.api("POST", "/instances", { name: "bge-a", model_id: BGE })).status).toBe(201);
    expect((await fleet.api("POST", "/instances", { name: "bge-b", model_id: NEXT })).status).toBe(201);
    for (const model of [BGE, NEXT]) await waitFor(`${model} served by the gateway`, async () => (await embed(http, model)).status === 200, 60_000);
  }, 120_000);

  afterAll(async () => {
    upstream.server.close();
    await fleet?.stop();
  }, 60_000);

  it("an alias 95/5 over a model id and an instance splits 2,000 calls within ±5%", async () => {
    const put = await fleet.api("PUT", "/catalog/aliases/embed", {
      targets: [
        { model_id: BGE, weight: 95 },
        { instance: "bge-b", weight: 5 },
      ],
    });
    expect(put.status).toBeLessThan(300);
    await waitFor("the alias on the router", async () => (await embed(http, "embed")).status === 200, 10_000);
    const counts = new Map<string, number>();
    let failed = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < 2000) {
        next++;
        const r = await embed(http, "embed");
        if (r.status !== 200) failed++;
        else {
          expect(r.body.model).toBe("embed");
          counts.set(r.instance ?? "", (counts.get(r.instance ?? "") ?? 0) + 1);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(failed).toBe(0);
    const a = counts.get("bge-a") ?? 0;
    const b = counts.get("bge-b") ?? 0;
    expect(a + b).toBe(2000);
    expect(Math.abs(a / 2000 - 0.95)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(b / 2000 - 0.05)).toBeLessThanOrEqual(0.05);
    expect(b).toBeGreaterThan(0);
    const models = (await (await fetch(`${http}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(expect.arrayContaining(["embed", BGE, NEXT]));
  }, 120_000);

  it("a disabled model is refused with 503 model_disabled on both shapes while its replica keeps running; re-enabled it serves", async () => {
    const before = await fleet.api("GET", "/instances/bge-a");
    expect(before.body.pid).toEqual(expect.any(Number));
    const off = await fleet.api("PATCH", `/catalog/models/${BGE}`, { enabled: false, reason: "bad revision" });
    expect(off.status).toBeLessThan(300);
    const refused = await waitFor("the switch on the router", async () => {
      const r = await embed(http, BGE);
      return r.status === 503 ? r : undefined;
    });
    expect(refused.body.error).toMatchObject({ code: "model_disabled", type: "server_error", message: `model "${BGE}" is disabled: bad revision` });
    const tei = await embed(http, BGE, "/embed");
    expect(tei.status).toBe(503);
    expect(tei.body).toEqual({ error: `model "${BGE}" is disabled: bad revision`, error_type: "Unhealthy" });
    // Its instance by name too; the other model is served; the alias falls to its enabled target.
    expect((await embed(http, "bge-a")).status).toBe(503);
    expect((await embed(http, NEXT)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await embed(http, "embed")).instance).toBe("bge-b");
    const models = (await (await fetch(`${http}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).not.toContain(BGE);
    // Nothing was stopped or restarted: the same process runs.
    const inst = await fleet.api("GET", "/instances/bge-a");
    expect(inst.body.status).toBe("running");
    expect(inst.body.pid).toBe(before.body.pid);
    expect(inst.body.replicas.length).toBeGreaterThan(0);
    for (const r of inst.body.replicas as { status: string }[]) expect(r.status).toBe("running");

    expect((await fleet.api("PATCH", `/catalog/models/${BGE}`, { enabled: true })).status).toBeLessThan(300);
    await waitFor("re-enabled on the router", async () => (await embed(http, BGE)).status === 200, 10_000);
  }, 60_000);

  it("a remote OpenAI-compatible backend is served under a name to the openai SDK, with the upstream key and model", async () => {
    const url = `http://127.0.0.1:${(upstream.server.address() as AddressInfo).port}/v1`;
    const put = await fleet.api("PUT", "/catalog/backends/cloud-small", {
      kind: "openai",
      url,
      upstream_model: "text-embedding-3-small",
      api_key: UPSTREAM_KEY,
      timeout_ms: 5000,
    });
    expect(put.status).toBeLessThan(300);
    expect(JSON.stringify(put.body)).not.toContain(UPSTREAM_KEY);
    // The fleet has a secrets key: the upstream key is nowhere in Redis, only its seal.
    expect(await redisHolds(fleet, UPSTREAM_KEY)).toBe(false);
    expect(await redisHolds(fleet, "tfs1.")).toBe(true);
    const client = new OpenAI({ baseURL: `${http}/v1`, apiKey: "not-needed", maxRetries: 0 });
    await waitFor(
      "the backend on the router",
      async () => {
        try {
          return await client.embeddings.create({ model: "cloud-small", input: "warm" });
        } catch {
          return undefined;
        }
      },
      10_000,
    );
    upstream.calls.length = 0;
    // The SDK's default encoding (base64) and float.
    const b64 = await client.embeddings.create({ model: "cloud-small", input: ["hello", "hi"] });
    expect(b64.model).toBe("cloud-small");
    expect(b64.data.map((d) => d.embedding)).toEqual([
      [5, 0.5, -0.25, 1],
      [2, 0.5, -0.25, 1],
    ]);
    const floats = await client.embeddings.create({ model: "cloud-small", input: "abc", encoding_format: "float" });
    expect(floats.data[0]?.embedding).toEqual([3, 0.5, -0.25, 1]);
    expect(upstream.calls).toHaveLength(2);
    for (const c of upstream.calls) {
      expect(c.path).toBe("/v1/embeddings");
      expect(c.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
      expect(c.model).toBe("text-embedding-3-small");
    }
    // Through an alias too, and listed.
    expect((await fleet.api("PUT", "/catalog/aliases/cloud", { targets: [{ backend: "cloud-small" }] })).status).toBeLessThan(300);
    const viaAlias = await waitFor("the alias on the router", async () => {
      try {
        return await client.embeddings.create({ model: "cloud", input: "x", encoding_format: "float" });
      } catch {
        return undefined;
      }
    });
    expect(viaAlias.model).toBe("cloud");
    const ids = (await client.models.list()).data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(["cloud", "cloud-small"]));
    // Another route on a backend: refused naming the limitation.
    const rerank = await fetch(`${http}/rerank`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "cloud-small", query: "q", texts: ["a"] }),
    });
    expect(rerank.status).toBe(400);
    expect(((await rerank.json()) as { error: string }).error).toMatch(/remote backend/);
    // The upstream key never in the router's or the control plane's log.
    expect(fleet.routers[0]?.process.log()).not.toContain(UPSTREAM_KEY);
    expect(fleet.controlPlane.log()).not.toContain(UPSTREAM_KEY);
  }, 60_000);
});
