import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { InstanceService } from "@tei-fleet/proto/fleet/v1";
import { afterAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../test/harness/free-port.ts";
import { randomPrefix, restCall, waitFor } from "./api-fixtures.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "cp-cli-"));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** Runs tei-control-plane with a clean TEI_FLEET_* environment; collects its output. */
function launch(args: string[], env: Record<string, string> = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TEI_FLEET_")));
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...clean, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let stderr = "";
  child.stderr!.on("data", (d) => {
    stderr += String(d);
  });
  child.stdout!.on("data", () => {});
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

describe("tei-control-plane", () => {
  it("serves REST (HTTP/1.1) and gRPC on one port, prints a generated admin token once, and stops on SIGTERM", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const dataDir = join(dir, "data");
    const proc = launch([], {
      TEI_FLEET_LISTEN: `127.0.0.1:${port}`,
      TEI_FLEET_REDIS_URL: inject("redisUrl"),
      TEI_FLEET_PREFIX: randomPrefix(),
      TEI_FLEET_DATA_DIR: dataDir,
      TEI_FLEET_LOG_LEVEL: "warn",
    });
    await waitFor("the control plane to answer /health", async () => (await fetch(`${url}/health`)).ok, 20_000);
    const token = readFileSync(join(dataDir, "admin-token"), "utf8").trim();
    expect(statSync(join(dataDir, "admin-token")).mode & 0o777).toBe(0o600);
    expect(proc.stderr()).toContain(token);
    expect(proc.stderr().split(token).length - 1).toBe(1);

    expect((await restCall(url, "POST", "/instances", { name: "from-cli", model_id: "m/m" }, { token })).status).toBe(201);
    const auth: Interceptor = (next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    };
    const grpc = createClient(InstanceService, createGrpcTransport({ baseUrl: url, interceptors: [auth] }));
    expect((await grpc.getInstance({ name: "from-cli" })).instance?.spec?.modelId).toBe("m/m");

    proc.child.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  });

  it("flags win over the environment", async () => {
    const port = await freePort();
    const proc = launch(["--listen", `127.0.0.1:${port}`, "--redis", inject("redisUrl"), "--prefix", randomPrefix()], {
      TEI_FLEET_LISTEN: "127.0.0.1:1",
      TEI_FLEET_ADMIN_TOKEN: "cli-admin-token-0123456789",
      TEI_FLEET_LOG_LEVEL: "warn",
    });
    await waitFor("the control plane to answer /health", async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, 20_000);
    expect((await restCall(`http://127.0.0.1:${port}`, "GET", "/instances", undefined, { token: "cli-admin-token-0123456789" })).status).toBe(200);
    expect(proc.stderr()).not.toContain("cli-admin-token-0123456789");
    proc.child.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  });

  it("refuses a bad configuration with exit 2, naming the setting", async () => {
    const bad = launch(["--listen", "nowhere"], { TEI_FLEET_MAX_INSTANCES: "-3", TEI_FLEET_READ_TOKEN: "short", TEI_FLEET_HEARTBEAT_TTL_MS: "soon" });
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain("--listen / TEI_FLEET_LISTEN: must be HOST:PORT");
    expect(bad.stderr()).toContain("TEI_FLEET_MAX_INSTANCES");
    expect(bad.stderr()).toContain("TEI_FLEET_READ_TOKEN: must be at least 16 characters");
    expect(bad.stderr()).toContain("TEI_FLEET_HEARTBEAT_TTL_MS");
  });

  it("exits 1 with a message when Redis cannot be reached", async () => {
    const port = await freePort();
    const proc = launch(["--listen", `127.0.0.1:${port}`, "--redis", `redis://127.0.0.1:${await freePort()}`]);
    expect(await proc.exited).toBe(1);
    expect(proc.stderr()).toContain("could not start");
  });
});
