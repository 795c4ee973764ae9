/**
 * The world of the remote-TEI tests (remote-tei.test.ts, remote-tei-tracing.test.ts): four fake
 * TEIs behind a gateway of their own, a TEI-shaped HTTP remote in front of it that checks the key
 * and enforces TEI's batch limit, and the fleet's router, with no TEI of its own, reaching them as
 * catalog backends (`far-<inst>`, and the other backends the tests use).
 *
 * Call {@link useRemoteTei} once at the top of a test file: it starts the world before the file's
 * tests and stops it after. The world's parts are exported as live bindings (set by that
 * beforeAll), so tests read them as plain names; each test file gets its own module instance,
 * hence its own world.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { CatalogAliasSchema, CatalogBackendSchema, RemoteBackendKind } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, expect } from "vitest";
import { type FakeTei, startFakeTei } from "../../../test/fake-tei/launcher.ts";
import { freePort } from "../../../test/harness/free-port.ts";
import type { Router, RouterConfigInput } from "../../src/index.ts";
import { type GatewayFixture, post, route, startGateway } from "../gateway/gateway-fixture.ts";
import { startLoggingGateway } from "../support/logging-gateway.ts";

/** The remote's TEIs, by instance name. */
export const MODELS = {
  embed: "BAAI/bge-small-en-v1.5",
  sparse: "naver/splade-cocondenser-ensembledistil",
  rerank: "BAAI/bge-reranker-base",
  classify: "SamLowe/roberta-base-go_emotions",
} as const;
/** An instance name of the remote's TEIs. */
export type Inst = keyof typeof MODELS;
/** The remote TEIs' max_client_batch_size. */
export const LIMIT = 4;
/** The key the remote checks (TEI's --api-key), held by the fleet's catalog backends. */
export const KEY = "sk-remote-tei-secret-4242";

/** One call the remote received. */
export interface Seen {
  method: string;
  inst: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown> | null;
}

/** Inputs of a TEI HTTP body, as TEI counts them against max_client_batch_size. */
function batchOf(path: string, b: Record<string, unknown> | null): number {
  if (b === null) return 0;
  const list = (v: unknown): number => (Array.isArray(v) && v.length > 0 && typeof v[0] !== "number" ? v.length : 1);
  if (path === "/rerank") return Array.isArray(b.texts) ? b.texts.length : 0;
  if (path === "/decode") return Array.isArray(b.ids) && Array.isArray(b.ids[0]) ? b.ids.length : 1;
  if (path === "/predict") return Array.isArray(b.inputs) && Array.isArray(b.inputs[0]) ? b.inputs.length : 1;
  if (path === "/similarity") return ((b.inputs as { sentences?: unknown[] }).sentences?.length ?? 0) + 1;
  return list(b.inputs);
}

/** The TEI-shaped remote: `/<inst>/<route>` forwarded to the second gateway's `/i/<inst>/<route>`. */
async function startRemote(teiFace: string) {
  const seen: Seen[] = [];
  const state: { fault: { status: number; body: string } | null; infoFails: boolean } = { fault: null, infoFails: false };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const raw = Buffer.concat(chunks).toString();
      const m = /^\/([^/]+)(\/.*)$/.exec(req.url ?? "") ?? ["", "", "/"];
      const [, inst, path] = m as [string, string, string];
      const body = raw === "" ? null : (JSON.parse(raw) as Record<string, unknown>);
      seen.push({ method: req.method ?? "", inst, path, headers: req.headers, body });
      // TEI's --api-key: 401 with an empty body.
      if (req.headers.authorization !== `Bearer ${KEY}`) return res.writeHead(401).end();
      if (state.fault !== null) return res.writeHead(state.fault.status, { "content-type": "application/json" }).end(state.fault.body);
      if (state.infoFails && path === "/info") return res.writeHead(503).end();
      const n = batchOf(path, body);
      if (n > LIMIT) {
        res.writeHead(422, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: `batch size ${n} > maximum allowed batch size ${LIMIT}`, error_type: "Validation" }));
      }
      const up = await fetch(`${teiFace}/i/${inst}${path}`, {
        method: req.method,
        headers: req.method === "POST" ? { "content-type": "application/json" } : {},
        body: req.method === "POST" ? raw : undefined,
      });
      const h: Record<string, string> = { "content-type": up.headers.get("content-type") ?? "application/json" };
      for (const [k, v] of up.headers) if (/^x-(compute|total|tokenization|queue|inference)-/.test(k)) h[k] = v;
      res.writeHead(up.status, h).end(await up.text());
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port, seen, state, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The running remote: its URL and port, the calls it received, the fault it answers with (null: none), and whether its /info fails. */
export type Remote = Awaited<ReturnType<typeof startRemote>>;

/** A router with its gateway and no TEI of its own, logging (info and up) into `lines`. */
export function startFleetGateway(config: Partial<RouterConfigInput>, lines: string[]) {
  return startLoggingGateway([], config, lines, "tei-remote-tei-test-");
}

/** Registers `far-<inst>` (kind tei, with the key) for each remote TEI, and the other backends the tests use. */
export function register(router: Router, remote: Remote, downPort: number): void {
  for (const inst of Object.keys(MODELS)) {
    router.catalog.putBackend(
      create(CatalogBackendSchema, {
        backend: { name: `far-${inst}`, kind: RemoteBackendKind.TEI, url: `${remote.url}/${inst}`, timeoutMs: 5000 },
        apiKey: KEY,
      }),
    );
  }
  router.catalog.putBackend(
    create(CatalogBackendSchema, { backend: { name: "far-badkey", kind: RemoteBackendKind.TEI, url: `${remote.url}/embed` }, apiKey: "sk-wrong" }),
  );
  router.catalog.putBackend(
    create(CatalogBackendSchema, { backend: { name: "far-down", kind: RemoteBackendKind.TEI, url: `http://127.0.0.1:${downPort}`, timeoutMs: 1000 } }),
  );
  router.catalog.putBackend(
    create(CatalogBackendSchema, {
      backend: { name: "openai-x", kind: RemoteBackendKind.OPENAI, url: `${remote.url}/v1`, upstreamModel: "text-embedding-3-small" },
      apiKey: KEY,
    }),
  );
  router.catalog.putAlias(
    create(CatalogAliasSchema, {
      name: "embed-any",
      targets: [
        { target: { case: "backend", value: "far-down" }, weight: 1 },
        { target: { case: "backend", value: "far-embed" }, weight: 1 },
      ],
    }),
  );
}

/** The fake TEIs behind the remote, by instance. */
const teis = new Map<Inst, FakeTei>();
/** The gateway of the remote's own TEIs. */
export let face: GatewayFixture;
/** The TEI-shaped remote the fleet's catalog backends point at. */
export let remote: Remote;
/** The fleet's router and gateway (no tracing), with the backends of {@link register}. */
export let fleet: Awaited<ReturnType<typeof startFleetGateway>>;
/** The fleet's log lines (info and up). */
export const lines: string[] = [];
/** Every answer text the fleet's gateway gave in these tests (none may hold the key). */
export const answered: string[] = [];
/** A port nothing listens on: the URL of the `far-down` backend. */
export let downPort = 0;

/** A POST to the fleet's gateway, its answer kept. */
export async function viaFleet(path: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await post(`${fleet.http}${path}`, body, headers);
  answered.push(r.text, JSON.stringify([...r.headers]));
  return r;
}

/** The remote TEI's own answer (its HTTP API, without the proxy's batch limit). */
export const direct = (inst: Inst, path: string, body: unknown) => post(`${face.http}/i/${inst}${path}`, body);

/** The calls the remote received during `f`. */
export async function callsDuring(f: () => Promise<unknown>): Promise<Seen[]> {
  const before = remote.seen.length;
  await f();
  return remote.seen.slice(before);
}

/** Starts the world before the calling test file's tests and stops it after them. */
export function useRemoteTei(): void {
  beforeAll(async () => {
    const started = await Promise.all(
      (Object.keys(MODELS) as Inst[]).map(
        async (k) => [k, await startFakeTei({ modelId: MODELS[k], args: ["--max-client-batch-size", String(LIMIT)] })] as const,
      ),
    );
    for (const [k, t] of started) teis.set(k, t);
    face = await startGateway(started.map(([k, t]) => route(k, `${t.host}:${t.port}`, { modelId: MODELS[k], node: `node-${k}` })));
    remote = await startRemote(face.http);
    downPort = await freePort();
    fleet = await startFleetGateway({}, lines);
    register(fleet.router, remote, downPort);
  }, 90_000);
  afterAll(async () => {
    await fleet?.close();
    await remote?.close();
    await face?.close();
    await Promise.all([...teis.values()].map((t) => t.stop()));
  });
}

/** Asserts that the upstream key never appeared in the fleet's log lines or answers. */
export function expectKeyNeverLeaked(): void {
  // Every call of the test file carried it (the remote checks it); in remote-tei.test.ts one
  // upstream error also echoed it.
  expect(remote.seen.some((c) => c.headers.authorization === `Bearer ${KEY}`)).toBe(true);
  expect(lines.length).toBeGreaterThan(0);
  expect(lines.join("\n")).not.toContain(KEY);
  expect(answered.join("\n")).not.toContain(KEY);
  expect(answered.join("\n")).not.toContain("sk-wrong");
}
