import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { byInstance, createTeiClients, type LocalFleet, startLocalFleet, startTraffic, waitFor } from "../harness/index.ts";

/** How long the control plane and Redis stay away (issue 5 asks for 30 s). */
const OUTAGE_MS = Number(process.env.TEI_FLEET_OUTAGE_MS ?? 30_000);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("the node agent keeps instances serving through restarts of itself, the control plane and Redis", () => {
  let fleet: LocalFleet;
  let records: string;

  beforeAll(async () => {
    records = mkdtempSync(join(tmpdir(), "tei-fleet-records-"));
    fleet = await startLocalFleet({
      agents: 1,
      persistentRedis: true,
      agentEnv: { FAKE_TEI_RECORD_FILE: join(records, "{port}.json") },
    });
    expect((await fleet.api("POST", "/instances", { name: "steady", model_id: "BAAI/bge-small-en-v1.5" })).status).toBe(201);
    await waitFor("steady to run", async () => (await fleet.api("GET", "/instances/steady")).body?.status === "running", 45_000);
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
    rmSync(records, { recursive: true, force: true });
  }, 60_000);

  const teiPid = async () => {
    const { body } = await fleet.api("GET", "/instances/steady");
    return (JSON.parse(readFileSync(join(records, `${body.port}.json`), "utf8")) as { pid: number }).pid;
  };
  const embedThroughRouter = (clients: ReturnType<typeof createTeiClients>) =>
    clients.mux.embed({ target: byInstance("steady"), request: { inputs: "still here?" } }, { timeoutMs: 5_000 });

  it("re-attaches to its TEI process after being killed, with no failed request through the router", async () => {
    const clients = createTeiClients(fleet.routers[0]!.url);
    await waitFor("the route", () => embedThroughRouter(clients), 15_000);
    const pid = await teiPid();
    const traffic = startTraffic(embedThroughRouter, clients, { pauseMs: 5 });

    await fleet.agents[0]!.process.kill();
    await new Promise((r) => setTimeout(r, 500));
    expect(alive(pid)).toBe(true);
    await fleet.restartAgent(0);
    await new Promise((r) => setTimeout(r, 3_000));

    const report = await traffic.stop();
    expect(report.failures).toEqual([]);
    expect(report.ok).toBeGreaterThan(50);
    expect(await teiPid()).toBe(pid);
    expect(alive(pid)).toBe(true);
    expect((await fleet.api("GET", "/instances/steady")).body.status).toBe("running");
  }, 60_000);

  it(
    `keeps serving while the control plane and Redis are away for ${OUTAGE_MS / 1000} s, and reconciles when they are back`,
    async () => {
      const clients = createTeiClients(fleet.routers[0]!.url);
      const pid = await teiPid();
      const traffic = startTraffic(embedThroughRouter, clients, { pauseMs: 20 });

      await fleet.stopControlPlane();
      await fleet.redis.kill();
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      const duringOutage = traffic.ok;
      await fleet.redis.restart();
      await fleet.startControlPlane();
      await waitFor(
        "the agent to report to the new control plane",
        async () => {
          const { body } = await fleet.api("GET", "/instances/steady");
          return body?.status === "running" && body.node === fleet.agents[0]!.name;
        },
        30_000,
      );
      await new Promise((r) => setTimeout(r, 2_000));

      const report = await traffic.stop();
      expect(report.failures).toEqual([]);
      expect(duringOutage).toBeGreaterThan(OUTAGE_MS / 100);
      expect(await teiPid()).toBe(pid);
    },
    OUTAGE_MS + 90_000,
  );
});
