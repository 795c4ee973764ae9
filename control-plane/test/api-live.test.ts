import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NodeAgent, resolveConfig, startNodeAgent } from "../../node-agent/src/index.ts";
import { freePort } from "../../test/harness/free-port.ts";
import { FleetHealthSchema, InstanceInfoSchema, InstanceViewSchema, LogsSchema } from "../src/rest/schemas.ts";
import { type ApiFixture, JOIN, startApi, waitFor } from "./api-fixtures.ts";

// The API against what it reports on: a real node agent (in-process) running the fake TEI.
const FAKE_TEI = fileURLToPath(new URL("../../test/fake-tei/bin/text-embeddings-router", import.meta.url));
const stateDir = mkdtempSync(join(tmpdir(), "cp-live-"));
let api: ApiFixture;
let agent: NodeAgent;

beforeAll(async () => {
  api = await startApi();
  // Below Linux's ephemeral range (32768-60999), where a client socket could hold a TEI port, and
  // apart from the whole-system fleets' 20000-31999.
  const base = 10_000 + Math.floor(Math.random() * 100) * 100;
  const config = resolveConfig(
    {
      controlPlane: api.url,
      nodeName: "live-1",
      advertiseAddress: "127.0.0.1",
      teiBinary: FAKE_TEI,
      gpus: "2x81920",
      listen: `127.0.0.1:${await freePort()}`,
      stateDir,
      portRange: `${base}-${base + 99}`,
      heartbeatIntervalMs: "200",
      probeIntervalMs: "200",
      probeTimeoutMs: "2000",
      restartBackoffInitialMs: "100",
      stopGraceMs: "2000",
      shutdownDrainMs: "0",
      unhealthyDrainMs: "0",
    },
    { TEI_FLEET_JOIN_TOKEN: JOIN },
  );
  agent = await startNodeAgent(config, { logger: pino({ level: "silent" }) });
  await waitFor("the node to register", async () => (await api.rest("GET", "/nodes/live-1")).status === 200);
  expect((await api.rest("POST", "/instances", { name: "live", model_id: "BAAI/bge-small-en-v1.5" })).status).toBe(201);
  // The model's facts (TEI's Info) arrive with a heartbeat after the replica reports running.
  await waitFor(
    "the instance to run with its model facts",
    async () => {
      const v = (await api.rest("GET", "/instances/live")).body;
      return v.status === "running" && v.replicas[0]?.model?.dimension;
    },
    30_000,
  );
}, 60_000);

afterAll(async () => {
  await agent?.shutdown();
  await api?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("instance views backed by a running replica", () => {
  it("GET /instances/:name shows the process, its node, address and GPU", async () => {
    const view = InstanceViewSchema.parse((await api.rest("GET", "/instances/live")).body);
    expect(view).toMatchObject({ status: "running", healthy: true, node: "live-1", reason: "" });
    expect(view.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(view.port).toBe(Number(view.address!.split(":")[1]));
    expect(alive(view.pid!)).toBe(true);
    expect(view.gpu_ids).toHaveLength(1);
    expect(view.gpu_id).toBe(view.gpu_ids[0]);
    expect(view.gpu_uuids).toHaveLength(1);
    expect(view.uptime_secs).toBeGreaterThanOrEqual(0);
    expect(view.prometheus_port).toBeGreaterThan(0);
    expect(view.replicas[0]!.model).toMatchObject({ model_type: "embedding", dimension: 384 });
  });

  it("health endpoints report it healthy", async () => {
    expect((await api.rest("GET", "/instances/live/health")).body).toMatchObject({ instance: "live", healthy: true, status: "running" });
    const all = FleetHealthSchema.parse((await api.rest("GET", "/health/all")).body);
    expect(all).toMatchObject({ total_instances: 1, healthy_count: 1, unhealthy_count: 0, overall_status: "healthy" });
  });

  it("GET /instances/:name/info has the model's facts from TEI's Info and request metrics scraped from TEI", async () => {
    const info = InstanceInfoSchema.parse((await api.rest("GET", "/instances/live/info")).body);
    expect(info.model).toMatchObject({ model_type: "embedding", dimension: 384 });
    expect(info.model!.max_input_length).toBeGreaterThan(0);
    expect(info.metrics).not.toBeNull();
    expect(info.metrics).toMatchObject({ replicas_scraped: 1, replicas_running: 1 });
    expect(info.metrics!.total_requests).toBeGreaterThanOrEqual(0);
  });

  it("GET /instances/:name/logs reads TEI's output through the node agent", async () => {
    const res = await api.rest("GET", "/instances/live/logs?tail=3");
    expect(res.status).toBe(200);
    const logs = LogsSchema.parse(res.body);
    expect(logs).toMatchObject({ instance: "live", node: "live-1", source: "agent", replica: 0 });
    expect(logs.lines.length).toBeGreaterThan(0);
    expect(logs.lines.length).toBeLessThanOrEqual(3);
    const all = (await api.rest("GET", "/instances/live/logs?tail=1000")).body.lines as string[];
    expect(all.some((l) => l.includes("Starting"))).toBe(true);
  });

  it("refuses a gpu_id the pinned node does not have (400) and a port taken on it (409)", async () => {
    const gpu = await api.rest("POST", "/instances", { name: "pinned", model_id: "m/m", node: "live-1", gpu_id: 7 });
    expect(gpu.status).toBe(400);
    expect(gpu.body).toMatchObject({ code: "INVALID_GPU_ID", field: "gpu_id" });
    const taken = (await api.rest("GET", "/instances/live")).body.port as number;
    const clash = await api.rest("POST", "/instances", { name: "clash", model_id: "m/m", node: "live-1", port: taken });
    expect(clash.status).toBe(409);
    expect(clash.body).toMatchObject({ code: "PORT_CONFLICT", field: "port" });
  });

  it("counts a TEI crash in tei_manager_instance_restarts_total and the fleet gauges follow the fleet", async () => {
    const before = (await api.rest("GET", "/instances/live")).body;
    process.kill(before.pid, "SIGKILL");
    const after = await waitFor(
      "the agent to restart TEI",
      async () => {
        const v = (await api.rest("GET", "/instances/live")).body;
        return v.status === "running" && v.restarts >= 1 && v.pid !== before.pid ? v : undefined;
      },
      30_000,
    );
    const text = String((await api.rest("GET", "/metrics", undefined, { token: null })).body);
    expect(text).toContain(`tei_manager_instance_restarts_total{instance="live"} ${after.restarts}`);
    expect(text).toContain('tei_fleet_nodes{state="ready"} 1');
    expect(text).toContain('tei_fleet_gpus{state="in_use"} 1');
    expect(text).toContain('tei_fleet_gpus{state="free"} 1');
    expect(text).toContain('tei_fleet_instances{status="running"} 1');
  });

  it("stop stops the process, start brings it back, delete removes it", async () => {
    const pid = (await api.rest("GET", "/instances/live")).body.pid as number;
    expect((await api.rest("POST", "/instances/live/stop")).status).toBe(200);
    await waitFor("the instance to stop", async () => (await api.rest("GET", "/instances/live")).body.status === "stopped", 20_000);
    // "stopped" shows once the scheduler has released the replica; the agent may still be
    // stopping the process for up to its stop grace period.
    await waitFor("the process to exit", () => !alive(pid), 5_000);
    expect((await api.rest("GET", "/health/all")).body).toMatchObject({ stopped_count: 1, overall_status: "healthy" });
    expect((await api.rest("POST", "/instances/live/start")).status).toBe(200);
    const running = await waitFor(
      "the instance to run again",
      async () => {
        const v = (await api.rest("GET", "/instances/live")).body;
        return v.status === "running" ? v : undefined;
      },
      30_000,
    );
    expect((await api.rest("DELETE", "/instances/live")).status).toBe(204);
    await waitFor("the process to exit", () => !alive(running.pid), 20_000);
  });
});
