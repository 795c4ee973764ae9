import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestBackend, type TestBackend } from "../support/tei-backend.ts";
import { type GatewayFixture, post, route, startGateway } from "./gateway-fixture.ts";

const KEY = "sk-gateway-test-key";
const SLOW = "sk-gateway-slow-key";
let backend: TestBackend;
let fx: GatewayFixture;
let dir: string;

beforeAll(async () => {
  backend = await startTestBackend("a");
  dir = await mkdtemp(join(tmpdir(), "gw-keys-"));
  const file = join(dir, "keys.json");
  const hash = createHash("sha256").update(KEY).digest("hex");
  const slow = createHash("sha256").update(SLOW).digest("hex");
  await writeFile(
    file,
    JSON.stringify({
      keys: [
        { name: "team", hash, allowedModels: ["BAAI/bge-small-en-v1.5"] },
        { name: "slow", hash: slow, limits: { requestsPerSecond: 0.5, burst: 1 } },
      ],
    }),
  );
  fx = await startGateway([route("a", backend.address)], { requireApiKeys: true, apiKeysFile: file });
}, 30_000);
afterAll(async () => {
  await fx?.close();
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("gateway requests pass the router's admission chain (API keys shared with the gRPC front)", () => {
  test("no key and a wrong key are refused 401 in each family's shape; a good key is served", async () => {
    const none = await post(`${fx.http}/v1/embeddings`, { input: "x" });
    expect(none.status).toBe(401);
    expect(none.body.error.type).toBe("invalid_request_error");
    const wrong = await post(`${fx.http}/embed`, { inputs: "x" }, { authorization: "Bearer nope" });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error_type).toBe("Unauthorized");
    expect(wrong.text).not.toContain("nope");
    const ok = await post(`${fx.http}/v1/embeddings`, { input: "x" }, { authorization: `Bearer ${KEY}` });
    expect(ok.status).toBe(200);
  });

  test("a key over its rate limit gets 429 with Retry-After and retry-after-ms (OpenAI's shape on /v1/*)", async () => {
    const auth = { authorization: `Bearer ${SLOW}` };
    expect((await post(`${fx.http}/v1/embeddings`, { input: "x" }, auth)).status).toBe(200);
    const over = await post(`${fx.http}/v1/embeddings`, { input: "x" }, auth);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(over.headers.get("retry-after-ms"))).toBeGreaterThan(0);
    expect(over.body.error).toMatchObject({ type: "requests", code: "rate_limit_exceeded" });
    const tei = await post(`${fx.http}/embed`, { inputs: "x" }, auth);
    expect(tei.status).toBe(429);
    expect(tei.body.error_type).toBe("Overloaded");
  });
});
