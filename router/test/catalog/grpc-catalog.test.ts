/**
 * The catalog on the gRPC front: `x-tei-model` naming an alias is sent to the alias's targets by
 * weight; a disabled model or alias is refused UNAVAILABLE model_disabled; a remote backend is
 * UNIMPLEMENTED on gRPC; a key limited to an alias may call it by that name.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { CatalogAliasSchema, CatalogBackendSchema, CatalogModelSchema, RemoteBackendKind } from "@tei-fleet/proto/fleet/v1";
import { Embed } from "@tei-fleet/proto/tei/v1";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createRouter, parseRouterConfig, type Router } from "../../src/index.ts";
import { startTestBackend, type TestBackend } from "../support/tei-backend.ts";

const BGE = "BAAI/bge-small-en-v1.5";
const NEXT = "BAAI/bge-base-en-v1.5";
const KEY = "tfk_grpc-catalog-test";
let a: TestBackend;
let b: TestBackend;
let router: Router;
let dir: string;
let embed: (model: string, key?: string) => Promise<unknown>;

beforeAll(async () => {
  [a, b] = await Promise.all([startTestBackend("a", BGE), startTestBackend("b", NEXT)]);
  dir = await mkdtemp(join(tmpdir(), "grpc-catalog-"));
  const routes = [
    { instanceName: "a", address: a.address, modelId: BGE, node: "n1", assignmentId: "a-1", replica: 0 },
    { instanceName: "b", address: b.address, modelId: NEXT, node: "n1", assignmentId: "b-1", replica: 0 },
  ];
  await writeFile(join(dir, "routes.json"), JSON.stringify({ version: 1, routes }));
  const hash = createHash("sha256").update(KEY).digest("hex");
  await writeFile(join(dir, "keys.json"), JSON.stringify({ keys: [{ name: "alias-only", hash, allowedModels: ["embed"] }] }));
  router = createRouter(
    parseRouterConfig({
      listen: "127.0.0.1:0",
      metricsListen: "127.0.0.1:0",
      routesFile: join(dir, "routes.json"),
      apiKeysFile: join(dir, "keys.json"),
      requireApiKeys: true,
      shutdownGraceMs: 100,
    }),
    { log: pino({ level: "silent" }) },
  );
  const { port } = await router.start();
  const client = createClient(Embed, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  embed = (model, key = KEY) => client.embed({ inputs: "x" }, { headers: { "x-tei-model": model, authorization: `Bearer ${key}` } });
  router.catalog.putAlias(
    create(CatalogAliasSchema, {
      name: "embed",
      targets: [
        { target: { case: "modelId", value: BGE }, weight: 3 },
        { target: { case: "instance", value: "b" }, weight: 1 },
      ],
    }),
  );
}, 30_000);

afterAll(async () => {
  await router?.stop();
  await Promise.all([a?.close(), b?.close()]);
  await rm(dir, { recursive: true, force: true });
});

const code = async (p: Promise<unknown>) => {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  return e === null ? "OK" : (e as ConnectError).code;
};

test("x-tei-model naming an alias goes to its targets by weight; the key limited to the alias may call it", async () => {
  for (let i = 0; i < 8; i++) await embed("embed");
  expect(a.calls.get("Embed")).toBe(6);
  expect(b.calls.get("Embed")).toBe(2);
  // The same key may not call the model id itself.
  expect(await code(embed(BGE))).toBe(Code.PermissionDenied);
});

test("disabled models and aliases are refused UNAVAILABLE model_disabled; a remote backend is UNIMPLEMENTED", async () => {
  router.catalog.putModel(create(CatalogModelSchema, { modelId: NEXT, enabled: false, reason: "bad revision" }));
  // The alias avoids its disabled target.
  for (let i = 0; i < 4; i++) await embed("embed");
  expect(b.calls.get("Embed")).toBe(2);
  router.catalog.putAlias(
    create(CatalogAliasSchema, { name: "embed", targets: [{ target: { case: "modelId", value: BGE }, weight: 1 }], enabled: false, reason: "off" }),
  );
  const err = await embed("embed").catch((e: unknown) => e as ConnectError);
  expect(err).toBeInstanceOf(ConnectError);
  expect((err as ConnectError).code).toBe(Code.Unavailable);
  expect((err as ConnectError).rawMessage).toBe('model_disabled: alias "embed" is disabled: off');
  router.catalog.putBackend(create(CatalogBackendSchema, { backend: { name: "embed", kind: RemoteBackendKind.OPENAI, url: "http://127.0.0.1:9" } }));
  router.catalog.removeAlias("embed");
  expect(await code(embed("embed"))).toBe(Code.Unimplemented);
});
