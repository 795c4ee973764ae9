import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { CatalogAliasSchema, CatalogBackendSchema, CatalogModelSchema, RemoteBackendKind } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type GatewayFixture, post, startGateway } from "../gateway/gateway-fixture.ts";

interface Seen {
  path: string;
  authorization: string | undefined;
  body: Record<string, unknown>;
}

/** A small upstream speaking OpenAI's /embeddings and TEI's /embed; `fail` makes it answer that status. */
function upstream() {
  const seen: Seen[] = [];
  const state = { fail: 0, hang: false, closed: 0 };
  const server: Server = createServer((req: IncomingMessage, res) => {
    let raw = "";
    req.on("data", (c) => {
      raw += c;
    });
    req.on("end", () => {
      const body = JSON.parse(raw || "{}") as Record<string, unknown>;
      seen.push({ path: req.url ?? "", authorization: req.headers.authorization, body });
      if (state.hang) {
        res.on("close", () => state.closed++);
        return;
      }
      if (state.fail !== 0) {
        res.writeHead(state.fail, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "Incorrect API key provided: sk-up-secret" } }));
        return;
      }
      if (req.url === "/info") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ model_id: "far/model", max_client_batch_size: 32, model_type: { embedding: { pooling: "cls" } } }));
        return;
      }
      if (req.url?.endsWith("/embeddings")) {
        const input = (Array.isArray(body.input) ? body.input : [body.input]) as string[];
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            object: "list",
            data: input.map((s, i) => ({ object: "embedding", index: i, embedding: [s.length, 0.5, -1] })),
            model: body.model,
            usage: { prompt_tokens: input.length * 2, total_tokens: input.length * 2 },
          }),
        );
        return;
      }
      const inputs = (Array.isArray(body.inputs) ? body.inputs : [body.inputs]) as string[];
      res.writeHead(200, { "content-type": "application/json", "x-compute-tokens": String(inputs.length * 3) });
      res.end(JSON.stringify(inputs.map((s) => [s.length, 0.25])));
    });
  });
  return { server, seen, state };
}

let gw: GatewayFixture;
const up = upstream();
let base = "";

beforeAll(async () => {
  await new Promise<void>((r) => up.server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(up.server.address() as AddressInfo).port}`;
  gw = await startGateway([]);
  gw.router.catalog.putBackend(
    create(CatalogBackendSchema, {
      backend: { name: "openai-small", kind: RemoteBackendKind.OPENAI, url: `${base}/v1`, upstreamModel: "text-embedding-3-small", timeoutMs: 2000 },
      apiKey: "sk-up-secret",
    }),
  );
  gw.router.catalog.putBackend(create(CatalogBackendSchema, { backend: { name: "far-tei", kind: RemoteBackendKind.TEI, url: base } }));
  gw.router.catalog.putAlias(create(CatalogAliasSchema, { name: "embed", targets: [{ target: { case: "backend", value: "openai-small" }, weight: 1 }] }));
});

afterAll(async () => {
  await gw?.close();
  up.server.close();
});

describe("remote backends through the gateway", () => {
  test("OpenAI kind on /v1/embeddings: the upstream key and model go upstream, the answer names the client's model", async () => {
    up.seen.length = 0;
    const r = await post(`${gw.http}/v1/embeddings`, { model: "embed", input: ["hello", "hi"] });
    expect(r.status).toBe(200);
    expect(r.headers.get("x-tei-backend")).toBe("openai-small");
    expect(r.body.model).toBe("embed");
    expect(r.body.data.map((d: { embedding: number[] }) => d.embedding)).toEqual([
      [5, 0.5, -1],
      [2, 0.5, -1],
    ]);
    expect(up.seen[0]).toMatchObject({
      path: "/v1/embeddings",
      authorization: "Bearer sk-up-secret",
      body: { model: "text-embedding-3-small", input: ["hello", "hi"] },
    });
  });

  test("OpenAI kind on TEI's /embed: answered as TEI's nested list", async () => {
    const r = await post(`${gw.http}/embed`, { model: "openai-small", inputs: ["abc"] });
    expect(r.status).toBe(200);
    expect(r.body).toEqual([[3, 0.5, -1]]);
  });

  test("TEI kind on /v1/embeddings (float and base64) and /embed", async () => {
    up.seen.length = 0;
    const f = await post(`${gw.http}/v1/embeddings`, { model: "far-tei", input: "abcd" });
    expect(f.status).toBe(200);
    expect(f.body).toMatchObject({ model: "far-tei", data: [{ index: 0, embedding: [4, 0.25] }], usage: { prompt_tokens: 3 } });
    expect(up.seen[0]).toMatchObject({ path: "/embed", authorization: undefined, body: { inputs: ["abcd"], truncate: true, normalize: true } });
    const b = await post(`${gw.http}/v1/embeddings`, { model: "far-tei", input: ["ab"], encoding_format: "base64" });
    const bytes = Buffer.from(b.body.data[0].embedding as string, "base64");
    expect([bytes.readFloatLE(0), bytes.readFloatLE(4)]).toEqual([2, 0.25]);
    const e = await post(`${gw.http}/embed`, { model: "far-tei", inputs: "xyz" });
    expect(e.body).toEqual([[3, 0.25]]);
  });

  test("routes other than embeddings on an OpenAI-kind backend are refused naming the kind and the route", async () => {
    up.seen.length = 0;
    const r = await post(`${gw.http}/rerank`, { model: "openai-small", query: "q", texts: ["a"] });
    expect(r.status).toBe(400);
    expect(r.body.error_type).toBe("Validation");
    expect(r.body.error).toMatch(/"openai-small" of kind openai .* serves only \/v1\/embeddings, \/embed and \/info, not \/rerank/);
    expect(up.seen).toEqual([]);
  });

  test("the upstream's refusal of the fleet's key is a 502 that quotes nothing; failures eject the backend", async () => {
    up.state.fail = 401;
    const r = await post(`${gw.http}/v1/embeddings`, { model: "openai-small", input: "x" });
    expect(r.status).toBe(502);
    expect(r.text).not.toContain("sk-up");
    up.state.fail = 500;
    for (let i = 0; i < 3; i++) expect((await post(`${gw.http}/v1/embeddings`, { model: "openai-small", input: "x" })).status).toBe(502);
    up.state.fail = 0;
    expect(gw.router.catalog.backend("openai-small")?.target.health.down()).toBe(true);
    // Called by name it is still tried (health is a hint), and a success resets it.
    expect((await post(`${gw.http}/v1/embeddings`, { model: "openai-small", input: "x" })).status).toBe(200);
  });

  test("an upstream that does not answer within timeout_ms is a 504; a client that leaves cancels the upstream call", async () => {
    gw.router.catalog.putBackend(
      create(CatalogBackendSchema, { backend: { name: "slow", kind: RemoteBackendKind.OPENAI, url: `${base}/v1`, timeoutMs: 200 } }),
    );
    up.state.hang = true;
    const started = Date.now();
    const r = await post(`${gw.http}/v1/embeddings`, { model: "slow", input: "x" });
    expect(r.status).toBe(504);
    expect(r.body.error.code).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(2000);
    const closed = up.state.closed;
    const gone = new AbortController();
    const pending = fetch(`${gw.http}/v1/embeddings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "openai-small", input: "x" }),
      signal: gone.signal,
    }).catch(() => null);
    await new Promise((res) => setTimeout(res, 100));
    gone.abort();
    await pending;
    const deadline = Date.now() + 1000;
    while (up.state.closed === closed && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    expect(up.state.closed).toBeGreaterThan(closed);
    up.state.hang = false;
  });

  test("disabled: 503 model_disabled in each family's shape; /v1/models follows the catalog", async () => {
    gw.router.catalog.putBackend(
      create(CatalogBackendSchema, { backend: { name: "far-tei", kind: RemoteBackendKind.TEI, url: base, enabled: false, reason: "maintenance" } }),
    );
    const o = await post(`${gw.http}/v1/embeddings`, { model: "far-tei", input: "x" });
    expect(o.status).toBe(503);
    expect(o.body.error).toMatchObject({ code: "model_disabled", message: 'backend "far-tei" is disabled: maintenance' });
    const t = await post(`${gw.http}/embed`, { model: "far-tei", inputs: "x" });
    expect(t.status).toBe(503);
    expect(t.body).toEqual({ error: 'backend "far-tei" is disabled: maintenance', error_type: "Unhealthy" });
    gw.router.catalog.putModel(create(CatalogModelSchema, { modelId: "some/model", enabled: false }));
    const models = (await (await fetch(`${gw.http}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(["embed", "openai-small", "slow"]);
  });
});
