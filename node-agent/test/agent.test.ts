import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../test/harness/free-port.ts";
import { type NodeAgent, startNodeAgent } from "../src/agent.ts";
import { resolveConfig } from "../src/config.ts";
import { createDesiredStateFile } from "../src/desired-state-file.ts";
import { FAKE_TEI, makeAssignment, removeDir, statusOf, tempDir, testLogger, waitFor } from "./helpers.ts";

let agent: NodeAgent | undefined;
let dir: string | undefined;
afterEach(async () => {
  await agent?.shutdown();
  agent = undefined;
  if (dir) await removeDir(dir);
});

describe("node agent", () => {
  it("runs the last desired state from disk while the control plane is unreachable, and serves logs and metrics", async () => {
    dir = await tempDir();
    const a = await makeAssignment({ instanceName: "emb", assignmentId: "emb-0-r1" });
    await createDesiredStateFile(dir).save({ version: 7n, assignments: [a], savedAtMs: Date.now() });
    const config = resolveConfig(
      {
        controlPlane: `http://127.0.0.1:${await freePort()}`, // nothing listens there
        nodeName: "node-a",
        advertiseAddress: "127.0.0.1",
        teiBinary: FAKE_TEI,
        gpus: "1x1024",
        listen: "127.0.0.1:0",
        stateDir: dir,
        probeIntervalMs: "200",
        restartBackoffInitialMs: "50",
        shutdownDrainMs: "0",
        stopGraceMs: "2000",
      },
      { TEI_FLEET_JOIN_TOKEN: "join-secret" },
    );
    agent = await startNodeAgent(config, { logger: testLogger, env: { PATH: process.env.PATH } });
    const first = await waitFor(
      () => {
        const s = statusOf(agent!.reconciler, a.assignmentId);
        return s?.status === "running" ? s : undefined;
      },
      15_000,
      "running from the saved desired state",
    );

    // Still supervised without a control plane: a killed TEI comes back.
    process.kill(first.pid!, "SIGKILL");
    await waitFor(
      () => {
        const s = statusOf(agent!.reconciler, a.assignmentId);
        return s?.status === "running" && s.pid !== first.pid;
      },
      15_000,
      "restarted while the control plane is away",
    );

    const health = (await (await fetch(`${agent.url}/healthz`)).json()) as { status: string };
    expect(health.status).toBe("ok");
    // Ready without a control plane: the agent serves its instances from the saved desired state.
    const ready = await fetch(`${agent.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ok", node: "node-a", state: "ready" });

    // Logs can hold request inputs: the join token (what the control plane sends) is required.
    expect((await fetch(`${agent.url}/instances/emb/logs`)).status).toBe(401);
    expect((await fetch(`${agent.url}/instances/emb/logs`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    const auth = { headers: { authorization: "Bearer join-secret" } };
    const logs = (await (await fetch(`${agent.url}/instances/emb/logs?tail=3`, auth)).json()) as { lines: string[]; total_lines: number; end: number };
    expect(logs.lines).toHaveLength(3);
    expect(logs.total_lines).toBeGreaterThan(3);
    expect(logs.end).toBe(logs.total_lines);
    expect((await fetch(`${agent.url}/instances/emb/logs?tail=-1`, auth)).status).toBe(400);
    const missing = await fetch(`${agent.url}/instances/nope/logs`, auth);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("INSTANCE_NOT_FOUND");

    const instances = (await (await fetch(`${agent.url}/instances`, auth)).json()) as { instances: Array<{ name: string; prometheus_target: string }> };
    expect(instances.instances).toEqual([expect.objectContaining({ name: "emb", prometheus_target: `127.0.0.1:${a.prometheusPort}` })]);

    const metrics = await (await fetch(`${agent.url}/metrics`)).text();
    expect(metrics).toContain(`tei_fleet_agent_instance_status{assignment_id="emb-0-r1",instance="emb",status="running"} 1`);
    expect(metrics).toContain(`tei_fleet_agent_instance_restarts{assignment_id="emb-0-r1",instance="emb"} 1`);
    expect(metrics).toMatch(/tei_fleet_agent_probe_duration_seconds_count\{assignment_id="emb-0-r1",instance="emb",result="ok"\} [1-9]/);
    expect(metrics).toContain("tei_fleet_agent_control_plane_connected 0");

    const pid = statusOf(agent.reconciler, a.assignmentId)!.pid!;
    await agent.shutdown();
    agent = undefined;
    expect(() => process.kill(pid, 0)).toThrow(); // --stop-instances-on-exit defaults to true
  });
});
