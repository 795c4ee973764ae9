/**
 * Whole-system check of the reschedule policy (control-plane README, "Scheduling"): a replica whose
 * TEI cannot start on its node moves to another node, with real Redis, control plane, agents, fake
 * TEI processes and router. The unit-level twin with simulated agents is
 * control-plane/test/sched-reschedule.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { byInstance, createTeiClients, type LocalFleet, startLocalFleet, waitFor } from "../harness/index.ts";

const MODEL = "BAAI/bge-small-en-v1.5";
const INSTANCE = "wobbly";
/** Small, so the move happens within seconds; the default (30 s) would make the test slow. */
const RESCHEDULE_AFTER_MS = 3_000;

/** A replica as GET /instances/:name shows it (the fields this test reads). */
interface ReplicaView {
  assignment_id: string;
  node: string;
  status: string;
  reason: string;
}
/** An event as GET /events shows it. */
interface EventView {
  kind: string;
  instance: string | null;
  node: string | null;
  message: string;
}

const isFailing = (status: string) => status === "failed" || status === "crash_loop";

describe("a replica that cannot start on its node is rescheduled to another node, across real processes", () => {
  let fleet: LocalFleet;
  let nodeA: string;
  let nodeB: string;

  beforeAll(async () => {
    fleet = await startLocalFleet({
      agents: 2,
      // TEI on node-a exits right after parsing its arguments, every time, as on a host whose
      // TEI install is broken; node-b's TEI is healthy.
      agentEnvByIndex: [{ FAKE_TEI_EXIT_AT_START: "1" }],
      controlPlaneEnv: { TEI_FLEET_RESCHEDULE_AFTER_MS: String(RESCHEDULE_AFTER_MS) },
    });
    [nodeA, nodeB] = fleet.agents.map((a) => a.name) as [string, string];
    // Cordoning needs the node registered, which the agent's /healthz does not promise.
    await waitFor(
      "both nodes registered and ready",
      async () => {
        const { body } = await fleet.api("GET", "/nodes");
        const ready = ((body?.nodes ?? []) as { name: string; state: string }[]).filter((n) => n.state === "ready");
        return ready.length === 2;
      },
      20_000,
    );
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
  }, 60_000);

  const replicas = async () => ((await fleet.api("GET", `/instances/${INSTANCE}`)).body?.replicas ?? []) as ReplicaView[];
  const eventsOf = async (kind: string) => {
    const { body } = await fleet.api("GET", "/events?limit=1000");
    return ((body?.events ?? []) as EventView[]).filter((e) => e.kind === kind && e.instance === INSTANCE);
  };
  /** The assignments agent i supervises, from its own HTTP API (behind the join token). */
  const agentInstances = async (i: number) => {
    const res = await fetch(`${fleet.agents[i]!.listenUrl}/instances`, { headers: { authorization: `Bearer ${fleet.joinToken}` } });
    return ((await res.json()) as { instances: { name: string; assignment_id: string }[] }).instances;
  };

  it("moves the failing replica from node-a to node-b, retires the old one, and serves through the router from node-b", async () => {
    // node-b is cordoned so that the unpinned instance can only land on node-a (and, until it is
    // uncordoned, the failing replica has nowhere to move: the order of events is fixed).
    expect((await fleet.api("POST", `/nodes/${nodeB}/cordon`)).status).toBeLessThan(300);
    const created = await fleet.api("POST", "/instances", { name: INSTANCE, model_id: MODEL });
    expect(created.status).toBe(201);

    const failing = await waitFor(
      "the replica to fail on node-a",
      async () => {
        const r = await replicas();
        return r.length === 1 && isFailing(r[0]!.status) ? r[0] : undefined;
      },
      30_000,
    );
    expect(failing.node).toBe(nodeA);
    expect(failing.reason).toMatch(/exited with code 1/);

    // Due to move, it has nowhere to go (node-a is avoided, node-b cordoned): it stays and says why.
    const blocked = await waitFor(
      "an instance.reschedule_blocked event",
      async () => {
        const found = await eventsOf("instance.reschedule_blocked");
        return found.length > 0 ? found[0] : undefined;
      },
      30_000,
    );
    expect(blocked.node).toBe(nodeA);
    expect(blocked.message).toContain(`avoiding node ${nodeA} where it failed`);
    expect(await eventsOf("instance.rescheduled")).toEqual([]);
    expect((await replicas()).map((r) => r.node)).toEqual([nodeA]);

    // Room appears on node-b; the reschedule policy must use it, since it avoids node-a.
    expect((await fleet.api("POST", `/nodes/${nodeB}/uncordon`)).status).toBeLessThan(300);

    const moved = await waitFor(
      "the instance to run on node-b only",
      async () => {
        const r = await replicas();
        return r.length === 1 && r[0]!.node === nodeB && r[0]!.status === "running" ? r[0] : undefined;
      },
      30_000,
    );
    expect(moved.assignment_id).not.toBe(failing.assignment_id);
    const instance = (await fleet.api("GET", `/instances/${INSTANCE}`)).body;
    expect(instance).toMatchObject({ status: "running", node: nodeB });

    // The event says where from and where to; it is recorded once.
    const events = await waitFor(
      "an instance.rescheduled event",
      async () => {
        const found = await eventsOf("instance.rescheduled");
        return found.length > 0 ? found : undefined;
      },
      10_000,
    );
    expect(events).toHaveLength(1);
    expect(events[0]!.node).toBe(nodeA);
    expect(events[0]!.message).toContain(`from ${nodeA} to ${nodeB}`);
    expect(events[0]!.message).toContain(failing.assignment_id);

    // The old replica is retired for real: node-a's agent no longer supervises (or restarts) it.
    await waitFor(
      "node-a's agent to drop the failing replica",
      async () => (await agentInstances(0)).every((a) => a.assignment_id !== failing.assignment_id),
      20_000,
    );
    expect((await agentInstances(0)).filter((a) => a.name === INSTANCE)).toEqual([]);
    expect((await agentInstances(1)).map((a) => a.assignment_id)).toEqual([moved.assignment_id]);

    // A real gRPC Embed through the router is served by node-b.
    const clients = createTeiClients(fleet.routers[0]!.url);
    let servedBy: string | null = null;
    const res = await waitFor(
      "the router to serve the instance from node-b",
      async () => {
        const call = await clients.mux.embed(
          { target: byInstance(INSTANCE), request: { inputs: "moved" } },
          {
            timeoutMs: 5_000,
            onHeader: (h) => {
              servedBy = h.get("x-tei-node");
            },
          },
        );
        return servedBy === nodeB ? call : undefined;
      },
      15_000,
    );
    expect(res.embeddings).toHaveLength(384);

    // Once moved, it stays: no second reschedule (it runs), and nothing goes back to node-a.
    expect(await eventsOf("instance.rescheduled")).toHaveLength(1);
    expect((await replicas()).map((r) => r.node)).toEqual([nodeB]);
  }, 90_000);
});
