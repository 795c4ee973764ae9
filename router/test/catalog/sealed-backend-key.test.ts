/**
 * Remote backends whose upstream key comes sealed (the control plane's TEI_FLEET_SECRETS_KEY): a
 * router with the same key opens it and calls the backend with it; a router without it, or with
 * another, calls nothing and answers 502 backend_auth_error naming the cause, never the key. The
 * setting itself is environment-only and never echoed when wrong.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { backendSecretContext, SecretsKey, SecretsKeyring } from "@tei-fleet/core/secrets";
import { CatalogBackendSchema, RemoteBackendKind } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { resolveRouterConfig } from "../../src/cli.ts";
import { type GatewayFixture, post, startGateway } from "../gateway/gateway-fixture.ts";

const UPSTREAM_KEY = "sk-sealed-upstream-0123456789";
const KEY_TEXT = randomBytes(32).toString("base64");
const fleetKey = SecretsKey.parse(KEY_TEXT);
const otherKey = SecretsKey.parse(randomBytes(32).toString("base64"));

const seen: Array<string | undefined> = [];
let upstream: Server;
let url = "";
const gateways: GatewayFixture[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => {
    seen.push(req.headers.authorization);
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          object: "list",
          data: [{ object: "embedding", index: 0, embedding: [1, 2] }],
          model: "m",
          usage: { prompt_tokens: 1, total_tokens: 1 },
        }),
      );
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  for (const g of gateways) await g.close();
  upstream.close();
});

/** A gateway holding `key` (or none), with the backend "sealed" as the control plane sends it. */
async function gatewayWith(key: SecretsKey | undefined, previous: SecretsKey[] = []): Promise<GatewayFixture> {
  const gw = await startGateway([], key === undefined ? {} : { secrets: new SecretsKeyring(key, previous) });
  gateways.push(gw);
  gw.router.catalog.putBackend(
    create(CatalogBackendSchema, {
      backend: { name: "sealed", kind: RemoteBackendKind.OPENAI, url, timeoutMs: 2000 },
      sealedApiKey: fleetKey.seal(UPSTREAM_KEY, backendSecretContext("sealed")),
    }),
  );
  return gw;
}

describe("a remote backend with a sealed upstream key", () => {
  test.each([
    ["the fleet's key", fleetKey, []],
    ["a new key with the fleet's as previous (a rotation under way)", otherKey, [fleetKey]],
  ])("a router with %s opens it and sends it upstream", async (_what, key, previous) => {
    const gw = await gatewayWith(key, previous);
    seen.length = 0;
    const r = await post(`${gw.http}/v1/embeddings`, { model: "sealed", input: "hi", encoding_format: "float" });
    expect(r.status).toBe(200);
    expect(seen).toEqual([`Bearer ${UPSTREAM_KEY}`]);
  });

  test.each([
    ["no secrets key", undefined, "its API key is sealed and this process has no TEI_FLEET_SECRETS_KEY"],
    ["another secrets key", otherKey, `sealed under secrets key ${fleetKey.id}; this process has key ${otherKey.id}`],
  ])("a router with %s calls nothing and answers 502 backend_auth_error naming the cause", async (_what, key, cause) => {
    const gw = await gatewayWith(key);
    seen.length = 0;
    const r = await post(`${gw.http}/v1/embeddings`, { model: "sealed", input: "hi" });
    expect(r.status).toBe(502);
    expect(r.body.error).toMatchObject({ code: "backend_auth_error" });
    expect(r.body.error.message).toBe(
      `the router cannot use remote backend "sealed"'s API key: ${cause} (every router needs the control plane's TEI_FLEET_SECRETS_KEY)`,
    );
    expect(JSON.stringify(r.body)).not.toContain(UPSTREAM_KEY);
    expect(seen).toEqual([]);
  });
});

describe("TEI_FLEET_SECRETS_KEY", () => {
  test("is read from the environment only, and a bad one is refused by name without echoing it", () => {
    expect(resolveRouterConfig({ routesFile: "/dev/null" }, { TEI_FLEET_SECRETS_KEY: KEY_TEXT }).secrets?.current.id).toBe(fleetKey.id);
    const other = randomBytes(32).toString("hex");
    const ring = resolveRouterConfig({ routesFile: "/dev/null" }, { TEI_FLEET_SECRETS_KEY: other, TEI_FLEET_SECRETS_KEY_PREVIOUS: `${KEY_TEXT},` }).secrets;
    expect(ring?.describe()).toBe(`key ${SecretsKey.parse(other).id} and previous ${fleetKey.id}`);
    expect(() => resolveRouterConfig({ routesFile: "/dev/null" }, { TEI_FLEET_SECRETS_KEY_PREVIOUS: KEY_TEXT })).toThrow(
      /TEI_FLEET_SECRETS_KEY_PREVIOUS: TEI_FLEET_SECRETS_KEY_PREVIOUS needs TEI_FLEET_SECRETS_KEY \(the current key\) too/,
    );
    expect(() =>
      resolveRouterConfig({ routesFile: "/dev/null" }, { TEI_FLEET_SECRETS_KEY: KEY_TEXT, TEI_FLEET_SECRETS_KEY_PREVIOUS: `${KEY_TEXT},nope` }),
    ).toThrow(/TEI_FLEET_SECRETS_KEY_PREVIOUS: key 2: must be 32 random bytes/);
    const bad = "not-a-key-but-a-secret-all-the-same";
    let message = "";
    try {
      resolveRouterConfig({ routesFile: "/dev/null" }, { TEI_FLEET_SECRETS_KEY: bad });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("TEI_FLEET_SECRETS_KEY: must be 32 random bytes in base64 (openssl rand -base64 32) or 64 hex digits");
    expect(message).not.toContain(bad);
  });
});
