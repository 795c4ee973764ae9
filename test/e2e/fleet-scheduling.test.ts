import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { byModel, createTeiClients, type LocalFleet, startLocalFleet, startTraffic, waitFor } from "../harness/index.ts";

const MODEL = "BAAI/bge-small-en-v1.5";

describe("fleet scheduling across real agents: drain without lost traffic, and node loss", () => {
  let fleet: LocalFleet;

  beforeAll(async () => {
    fleet = await startLocalFleet({ agents: 3, gpus: "1x24576" });
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
  }, 60_000);

  const replicas = async (name: string) => {
    const { body } = await fleet.api("GET", `/instances/${name}`);
    return (body?.replicas ?? []) as { node: string; status: string }[];
  };
  const embedByModel = (clients: ReturnType<typeof createTeiClients>) =>
    clients.mux.embed({ target: byModel(MODEL), request: { inputs: "drain me" } }, { timeoutMs: 5_000 });

  it("spreads replicas over nodes, and drains a node with no failed request through the router", async () => {
    const created = await fleet.api("POST", "/instances", { name: "spread", model_id: MODEL, replicas: 2, placement_policy: "spread" });
    expect(created.status).toBe(201);
    const placed = await waitFor(
      "both replicas running",
      async () => {
        const r = await replicas("spread");
        return r.length === 2 && r.every((x) => x.status === "running") ? r : undefined;
      },
      45_000,
    );
    expect(new Set(placed.map((r) => r.node)).size).toBe(2);

    const clients = createTeiClients(fleet.routers[0]!.url);
    await waitFor("routes for the model", () => embedByModel(clients), 15_000);
    const traffic = startTraffic(embedByModel, clients, { pauseMs: 5 });
    const victim = placed[0]!.node;
    const drained = await fleet.api("POST", `/nodes/${victim}/drain`, { max_parallel: 1, deadline_secs: 60 });
    expect(drained.status).toBeLessThan(300);

    const after = await waitFor(
      `${victim} to be empty`,
      async () => {
        const r = await replicas("spread");
        return r.length === 2 && r.every((x) => x.status === "running" && x.node !== victim) ? r : undefined;
      },
      60_000,
    );
    await new Promise((r) => setTimeout(r, 1_000));
    const report = await traffic.stop();
    expect(report.failures).toEqual([]);
    expect(report.ok).toBeGreaterThan(50);
    expect(new Set(after.map((r) => r.node)).size).toBe(2);
    // A drained node is cordoned: nothing new lands on it.
    expect((await fleet.api("GET", `/nodes/${victim}`)).body.cordoned).toBe(true);
  }, 150_000);

  it("moves a lost node's instances elsewhere and the router follows", async () => {
    await fleet.api("DELETE", "/instances/spread");
    for (const a of fleet.agents) await fleet.api("POST", `/nodes/${a.name}/uncordon`);
    expect((await fleet.api("POST", "/instances", { name: "lonely", model_id: MODEL })).status).toBe(201);
    const [first] = await waitFor(
      "lonely running",
      async () => {
        const r = await replicas("lonely");
        return r.length === 1 && r[0]!.status === "running" ? r : undefined;
      },
      45_000,
    );
    const index = fleet.agents.findIndex((a) => a.name === first!.node);

    // The host dies: its agent and its TEI processes with it.
    const lostAt = Date.now();
    await fleet.agents[index]!.process.kill();
    const { body } = await fleet.api("GET", "/instances/lonely");
    try {
      process.kill(-Number(body.pid), "SIGKILL");
    } catch {
      /* not a group leader */
    }
    try {
      process.kill(Number(body.pid), "SIGKILL");
    } catch {
      /* already gone */
    }

    const moved = await waitFor(
      "lonely to run on another node",
      async () => {
        const r = await replicas("lonely");
        return r.length === 1 && r[0]!.status === "running" && r[0]!.node !== first!.node ? r[0] : undefined;
      },
      30_000,
    );
    const rescheduledInMs = Date.now() - lostAt;
    expect(rescheduledInMs).toBeLessThan(15_000);
    expect((await fleet.api("GET", `/nodes/${first!.node}`)).body.state).toBe("lost");

    const clients = createTeiClients(fleet.routers[0]!.url);
    let node: string | null = null;
    const res = await waitFor(
      "the router to serve from the new node",
      async () => {
        const call = await clients.mux.embed(
          { target: byModel(MODEL), request: { inputs: "x" } },
          {
            onHeader: (h) => {
              node = h.get("x-tei-node");
            },
          },
        );
        return node === moved.node ? call : undefined;
      },
      15_000,
    );
    expect(res.embeddings).toHaveLength(384);
  }, 120_000);
});
