/**
 * The fleet's admission in a real `tei-router` process (a routes file, an API keys file, keys
 * required, a small in-flight limit and queue) in front of in-process TEI stand-ins: refusals
 * for keys, limits and a full queue, a deadline that passes in the queue, the timings on
 * answers, and logs that never hold a key or its hash.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { ClientHttp2Session } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Embed, EmbedRequestSchema } from "@tei-fleet/proto/tei/v1";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { freePort } from "../../../test/harness/free-port.ts";
import { hashApiKey } from "../../src/admission/api-key-view.ts";
import { frame, rawCall, rawSession } from "../support/raw-client.ts";
import { startTestBackend, type TestBackend } from "../support/tei-backend.ts";

const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
const MODEL = "BAAI/bge-small-en-v1.5";
const OPEN = "tf_e2e_open_4b1d9c2a77e0";
const LIMITED = "tf_e2e_limited_8e3f0a61";
const OTHER_MODEL = "tf_e2e_gte_only_5c7d21";
const SECRETS = [OPEN, LIMITED, OTHER_MODEL];

let dir: string;
let backend: TestBackend;
let child: ChildProcess;
let log = "";
let port: number;
let metricsPort: number;
let session: ClientHttp2Session;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tei-admission-e2e-"));
  backend = await startTestBackend("a", MODEL);
  const routes = join(dir, "routes.json");
  await writeFile(routes, JSON.stringify({ version: 1, routes: [{ instanceName: "a", modelId: MODEL, node: "n", address: backend.address }] }));
  const keys = join(dir, "keys.json");
  await writeFile(
    keys,
    JSON.stringify({
      keys: [
        { name: "open", hash: hashApiKey(OPEN), limits: { requestsPerSecond: 10_000, burst: 10_000 } },
        { name: "limited", hash: hashApiKey(LIMITED), limits: { requestsPerSecond: 1, burst: 5 } },
        { name: "gte-only", hash: hashApiKey(OTHER_MODEL), allowedModels: ["thenlper/gte-base"] },
      ],
    }),
  );
  port = await freePort();
  metricsPort = await freePort();
  child = spawn(
    process.execPath,
    [
      MAIN,
      ...["--listen", `127.0.0.1:${port}`, "--metrics-listen", `127.0.0.1:${metricsPort}`, "--routes-file", routes, "--log-level", "debug"],
      ...["--require-api-keys", "true", "--api-keys-file", keys, "--max-inflight", "2", "--max-queue-per-model", "2"],
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  for (let i = 0; i < 400 && !log.includes("router listening"); i++) await new Promise((r) => setTimeout(r, 25));
  expect(log).toContain("router listening");
  session = rawSession(port);
});

afterAll(async () => {
  session?.close();
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
  await backend?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  backend.delayMs = 0;
});

const client = () => createClient(Embed, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
const as = (key: string | null, extra: Record<string, string> = {}) => ({
  "x-tei-model": MODEL,
  ...(key === null ? {} : { authorization: `Bearer ${key}` }),
  ...extra,
});
const EMBED = frame(toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs: "hello" })));
const embeds = () => backend.calls.get("Embed") ?? 0;

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  return p.then(
    () => {
      throw new Error("the call was answered");
    },
    (e: unknown) => ConnectError.from(e),
  );
}

describe("keys", () => {
  test("no key is UNAUTHENTICATED; a key not allowed the model is PERMISSION_DENIED; neither reaches TEI", async () => {
    const before = embeds();
    expect((await failure(client().embed({ inputs: "x" }, { headers: as(null) }))).code).toBe(Code.Unauthenticated);
    expect((await failure(client().embed({ inputs: "x" }, { headers: as("tf_not_a_key") }))).code).toBe(Code.Unauthenticated);
    expect((await failure(client().embed({ inputs: "x" }, { headers: as(OTHER_MODEL) }))).code).toBe(Code.PermissionDenied);
    expect(embeds()).toBe(before);
  });

  test("a known key is served, and the answer says how long it queued in the fleet", async () => {
    const res = await rawCall(session, "/tei.v1.Embed/Embed", [EMBED], as(OPEN));
    expect(res.status).toBe(0);
    expect(res.headers["x-fleet-queue-time"]).toBe("0");
  });
});

test("a key over its limit is refused RESOURCE_EXHAUSTED for the excess, with a retry hint", async () => {
  // One after another, so the router's small queue is not what refuses them.
  const answers = [];
  for (let i = 0; i < 12; i++) answers.push(await rawCall(session, "/tei.v1.Embed/Embed", [EMBED], as(LIMITED)));
  const ok = answers.filter((a) => a.status === 0).length;
  const refused = answers.filter((a) => a.status === Code.ResourceExhausted);
  // A burst of 5 at 1/s: 5 (6 if a second ticked meanwhile), the rest refused.
  expect(ok).toBeGreaterThanOrEqual(5);
  expect(ok).toBeLessThanOrEqual(6);
  expect(refused.length).toBe(12 - ok);
  expect(refused[0]?.message).toMatch(/^API key "limited" is over its limit of 1 requests\/s; retry in \d+ ms$/);
  expect(Number(refused[0]?.headers["retry-after-ms"])).toBeGreaterThan(0);
  expect(refused[0]?.headers["grpc-retry-pushback-ms"]).toBe(refused[0]?.headers["retry-after-ms"]);
});

test("a full queue refuses at once (under 5 ms), and queued calls are served when slots free", async () => {
  backend.delayMs = 400;
  // Two calls take the router's two slots, two wait in the model's queue.
  const held = Array.from({ length: 4 }, () => rawCall(session, "/tei.v1.Embed/Embed", [EMBED], as(OPEN)));
  await new Promise((r) => setTimeout(r, 100));
  const took: number[] = [];
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now();
    const res = await rawCall(session, "/tei.v1.Embed/Embed", [EMBED], as(OPEN));
    took.push(performance.now() - t0);
    expect(res.status).toBe(Code.ResourceExhausted);
    expect(res.message).toMatch(/queue of model .* is full/);
  }
  took.sort((a, b) => a - b);
  expect(took[4]).toBeLessThan(5); // the median, client and loopback included
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  expect(metrics).toContain("tei_router_admission_slots_in_use 2");
  expect(metrics).toContain("tei_router_admission_queued_calls 2");
  const answers = await Promise.all(held);
  expect(answers.map((a) => a.status)).toEqual([0, 0, 0, 0]);
  // The two that waited say so (about one backend delay).
  const queued = answers.map((a) => Number(a.headers["x-fleet-queue-time"])).sort((a, b) => a - b);
  expect(queued[0]).toBe(0);
  expect(queued[3]).toBeGreaterThanOrEqual(250);
});

test("a call whose deadline passes in the queue is DEADLINE_EXCEEDED and never reaches TEI", async () => {
  backend.delayMs = 400;
  const before = embeds();
  const held = [rawCall(session, "/tei.v1.Embed/Embed", [EMBED], as(OPEN)), rawCall(session, "/tei.v1.Embed/Embed", [EMBED], as(OPEN))];
  await new Promise((r) => setTimeout(r, 50));
  const t0 = performance.now();
  const late = await rawCall(session, "/tei.v1.Embed/Embed", [EMBED], as(OPEN, { "grpc-timeout": "100m" }));
  expect(late.status).toBe(Code.DeadlineExceeded);
  expect(late.message).toMatch(/in the queue/);
  expect(performance.now() - t0).toBeLessThan(350);
  await Promise.all(held);
  expect(embeds()).toBe(before + 2);
});

test("a call that waited in the queue gives TEI only what is left of its deadline", async () => {
  backend.delayMs = 300;
  const held = [rawCall(session, "/tei.v1.Embed/Embed", [EMBED], as(OPEN)), rawCall(session, "/tei.v1.Embed/Embed", [EMBED], as(OPEN))];
  await new Promise((r) => setTimeout(r, 50));
  const queued = await rawCall(session, "/tei.v1.Embed/Embed", [EMBED], as(OPEN, { "grpc-timeout": "5S" }));
  await Promise.all(held);
  expect(queued.status).toBe(0);
  const waited = Number(queued.headers["x-fleet-queue-time"]);
  expect(waited).toBeGreaterThanOrEqual(150);
  const forwarded = String(backend.lastHeaders?.get("grpc-timeout"));
  expect(forwarded).toMatch(/^\d+m$/);
  expect(Number.parseInt(forwarded, 10)).toBeLessThanOrEqual(5000 - waited + 5);
});

test("no key and no hash ever appear in the router's log", () => {
  expect(log).toContain("API keys required");
  for (const s of SECRETS) {
    expect(log).not.toContain(s);
    expect(log).not.toContain(hashApiKey(s));
  }
});
