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
