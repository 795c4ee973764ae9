import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Embed } from "@tei-fleet/proto/tei/v1";
import { afterAll, beforeAll, expect, test } from "vitest";
import { freePort } from "../../test/harness/free-port.ts";
import { FakeControlPlane, JOIN_TOKEN } from "./support/fake-control-plane.ts";
import { startTestBackend, type TestBackend } from "./support/tei-backend.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
let dir: string;
let be: TestBackend;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tei-router-cli-"));
  be = await startTestBackend("a");
});
afterAll(async () => {
  await be?.close();
  await rm(dir, { recursive: true, force: true });
});

test("bad flags exit 2 with a message naming the problem", () => {
  const none = spawnSync(process.execPath, [MAIN, "--listen", "127.0.0.1:0"], { encoding: "utf8" });
  expect(none.status).toBe(2);
  expect(none.stderr).toContain("--control-plane URL or --routes-file FILE");
  const badListen = spawnSync(process.execPath, [MAIN, "--listen", "nowhere", "--routes-file", "x.json"], { encoding: "utf8" });
  expect(badListen.status).toBe(2);
  expect(badListen.stderr).toContain("listen");
});

test("an invalid routes file stops start-up with the field named", async () => {
  const file = join(dir, "bad.json");
  await writeFile(file, JSON.stringify({ routes: [{ instanceName: "a", modelId: "m", address: "no-port" }] }));
  const r = spawnSync(process.execPath, [MAIN, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--routes-file", file], { encoding: "utf8" });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain("routes.0.address");
});

test("tei-router serves a routes file, exposes metrics, and exits 0 on SIGTERM", async () => {
  const file = join(dir, "routes.json");
  await writeFile(file, JSON.stringify({ version: 3, routes: [{ instanceName: "a", modelId: "m", node: "n", address: be.address }] }));
  const [port, mport] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [MAIN, "--listen", `127.0.0.1:${port}`, "--metrics-listen", `127.0.0.1:${mport}`, "--routes-file", file], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  try {
    let log = "";
    child.stderr.on("data", (d: Buffer) => (log += d.toString()));
    for (let i = 0; i < 200 && !log.includes("router listening"); i++) await new Promise((r) => setTimeout(r, 25));
    const res = await createClient(Embed, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` })).embed(
      { inputs: "x" },
      { headers: { "x-tei-instance": "a" } },
    );
    expect(res.embeddings).toHaveLength(8);
    const metrics = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
    expect(metrics).toContain('tei_router_requests_total{method="tei.v1.Embed/Embed",model="m",instance="a",code="OK"} 1');
    expect(metrics).toContain("tei_router_route_table_version 3");
    const ready = await fetch(`http://127.0.0.1:${mport}/readyz`);
    expect(ready.status).toBe(200);
  } finally {
    child.kill("SIGTERM");
  }
  expect(await exited).toBe(0);
});

/** Runs tei-router with `args` and `env` (on top of PATH only) until `line` is logged; then SIGTERM. */
async function runUntil(
  args: string[],
  env: Record<string, string>,
  line: string,
  whileRunning: () => Promise<void> = async () => {},
): Promise<{ log: string; code: number | null }> {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "ignore", "pipe"], env: { PATH: process.env.PATH ?? "", ...env } });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  let log = "";
  child.stderr.on("data", (d: Buffer) => (log += d.toString()));
  try {
    for (let i = 0; i < 400 && !log.includes(line); i++) await new Promise((r) => setTimeout(r, 25));
    expect(log).toContain(line);
    await whileRunning();
  } finally {
    child.kill("SIGTERM");
  }
  return { code: await exited, log };
}

test("the TEI_FLEET_ROUTER_* environment twins configure a router started without flags", async () => {
  const file = join(dir, "env-routes.json");
  await writeFile(file, JSON.stringify({ version: 1, routes: [{ instanceName: "a", modelId: "m", node: "n", address: be.address }] }));
  const [port, mport] = [await freePort(), await freePort()];
  const env = { TEI_FLEET_ROUTER_LISTEN: `127.0.0.1:${port}`, TEI_FLEET_ROUTER_METRICS_LISTEN: `127.0.0.1:${mport}`, TEI_FLEET_ROUTER_ROUTES_FILE: file };
  const { code } = await runUntil([], env, "router listening", async () => {
    const res = await createClient(Embed, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` })).embed(
      { inputs: "x" },
      { headers: { "x-tei-instance": "a" } },
    );
    expect(res.embeddings).toHaveLength(8);
    expect((await fetch(`http://127.0.0.1:${mport}/readyz`)).status).toBe(200);
  });
  expect(code).toBe(0);
});

test("a flag wins over its environment twin", async () => {
  const file = join(dir, "flag-routes.json");
  await writeFile(file, JSON.stringify({ version: 1, routes: [] }));
  const [flagPort, envPort, mport] = [await freePort(), await freePort(), await freePort()];
  const env = { TEI_FLEET_ROUTER_LISTEN: `127.0.0.1:${envPort}`, TEI_FLEET_ROUTER_ROUTES_FILE: file };
  const { log } = await runUntil(["--listen", `127.0.0.1:${flagPort}`, "--metrics-listen", `127.0.0.1:${mport}`], env, "router listening");
  expect(log).toContain(`"listen":"127.0.0.1:${flagPort}"`);
  expect(log).not.toContain(String(envPort));
});

test("a bad environment value exits 2 with a message naming the variable", () => {
  const r = spawnSync(process.execPath, [MAIN, "--routes-file", "x.json"], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", TEI_FLEET_ROUTER_MAX_CONCURRENT_STREAMS: "lots" },
  });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain("--max-concurrent-streams / TEI_FLEET_ROUTER_MAX_CONCURRENT_STREAMS: must be a whole number");
});

test("the join token never appears in the logs, even at trace level", async () => {
  const cp = new FakeControlPlane(await freePort());
  cp.publish(1, [{ name: "a", address: be.address }]);
  await cp.start();
  try {
    const [port, mport] = [await freePort(), await freePort()];
    const args = ["--listen", `127.0.0.1:${port}`, "--metrics-listen", `127.0.0.1:${mport}`, "--log-level", "trace"];
    const env = { TEI_FLEET_CONTROL_PLANE: `http://127.0.0.1:${cp.port}`, TEI_FLEET_JOIN_TOKEN: JOIN_TOKEN };
    const { log } = await runUntil(args, env, "route table updated");
    expect(log).toContain('"service":"tei-router"');
    expect(log).toContain('"joinToken":"[redacted]"'); // the configuration is logged at debug, censored
    expect(log).not.toContain(JOIN_TOKEN);
  } finally {
    await cp.stop();
  }
});

test("SIGHUP re-reads the routes file", async () => {
  const file = join(dir, "hup-routes.json");
  await writeFile(file, JSON.stringify({ version: 1, routes: [] }));
  const [port, mport] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [MAIN, "--listen", `127.0.0.1:${port}`, "--metrics-listen", `127.0.0.1:${mport}`, "--routes-file", file], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  let log = "";
  child.stderr.on("data", (d: Buffer) => (log += d.toString()));
  try {
    for (let i = 0; i < 200 && !log.includes("router listening"); i++) await new Promise((r) => setTimeout(r, 25));
    await writeFile(file, JSON.stringify({ version: 2, routes: [{ instanceName: "a", modelId: "m", node: "n", address: be.address }] }));
    child.kill("SIGHUP");
    for (let i = 0; i < 200 && !log.includes("routes file re-read"); i++) await new Promise((r) => setTimeout(r, 25));
    expect(await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text()).toContain("tei_router_route_table_version 2");
  } finally {
    child.kill("SIGTERM");
  }
  expect(await exited).toBe(0);
});
