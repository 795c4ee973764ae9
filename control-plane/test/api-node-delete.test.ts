import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AgentService, NodeService } from "@tei-fleet/proto/fleet/v1";
import { afterEach, describe, expect, it } from "vitest";
import { SimulatedAgent } from "../bench/simulated-agent.ts";
import { ADMIN, type ApiFixture, bearer, JOIN, READ, startApi, waitFor } from "./api-fixtures.ts";

// DELETE /nodes/:name and NodeService.DeleteNode against a whole control plane (auth, error
// mapping, scheduler), with simulated agents speaking AgentService over Connect as real ones do.

let api: ApiFixture;
const agents: SimulatedAgent[] = [];
afterEach(async () => {
  agents.length = 0;
  await api?.close();
});

const transport = (token: string) => createConnectTransport({ baseUrl: api.url, httpVersion: "1.1", interceptors: [bearer(token)] });
const agentClient = (): Client<typeof AgentService> => createClient(AgentService, transport(JOIN));
const nodeClient = (token = ADMIN): Client<typeof NodeService> => createClient(NodeService, transport(token));

/** Registers a simulated node through the join-token AgentService, as a node agent does. */
async function addNode(name: string): Promise<SimulatedAgent> {
  const client = agentClient();
  const agent = new SimulatedAgent(
    {
      register: (node) => client.register({ node }),
      heartbeat: (request) => client.heartbeat(request),
      leave: (nodeName, epoch) => client.leave({ nodeName, epoch }),
    },
    { name, gpusMb: [81920] },
  );
  await agent.register();
  agents.push(agent);
  return agent;
}

/** Heartbeats from every agent that is not silent until `check` holds. */
async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  return waitFor(
    what,
    async () => {
      await Promise.all(agents.map((a) => a.heartbeat()));
      return check();
    },
    timeoutMs,
  );
}

const nodeNames = async () => ((await api.rest("GET", "/nodes")).body.nodes as Array<{ name: string }>).map((n) => n.name).sort();
const nodeState = async (name: string) => (await api.rest("GET", `/nodes/${name}`)).body?.state as string | undefined;
const events = async (kind: string) =>
  ((await api.rest("GET", "/events?limit=1000")).body.events as Array<{ kind: string; node: string | null; message: string }>).filter((e) => e.kind === kind);
/** Every key of a node's own bookkeeping (node:, node-claims:, assignments:, ...). */
const keysOf = async (node: string) => (await api.redis.keys(`${api.cp.keys.prefix}:*:${node}`)).sort();

/** Creates an instance pinned to a node and waits until it runs there. */
async function runOn(node: string, name: string) {
  expect((await api.rest("POST", "/instances", { name, model_id: "BAAI/bge-small-en-v1.5", node })).status).toBe(201);
  await until(`${name} running on ${node}`, async () => {
    const view = (await api.rest("GET", `/instances/${name}`)).body;
    return view.status === "running" && view.node === node;
  });
}

/** Silences an agent and waits until the control plane calls its node lost. */
async function loseNode(agent: SimulatedAgent) {
  agent.silent = true;
  await until(`${agent.spec.name} lost`, async () => (await nodeState(agent.spec.name)) === "lost");
}

describe("DELETE /nodes/:name", () => {
  it("deletes a lost node: gone from GET /nodes, its keys freed, node.deleted emitted, node watchers nudged", async () => {
    api = await startApi();
    const lost = await addNode("gpu-lost");
    await addNode("gpu-keep");
    await runOn("gpu-lost", "pinned");
    await loseNode(lost);
    expect(await keysOf("gpu-lost")).toContain(api.cp.keys.node("gpu-lost"));

    // Placement workers and assignment streams follow nodes through the changes channel.
    const subscriber = api.redis.duplicate();
    const heard: string[] = [];
    subscriber.on("message", (_channel, message: string) => heard.push(message));
    await subscriber.subscribe(api.cp.keys.changesChannel());
    try {
      const forbidden = await api.rest("DELETE", "/nodes/gpu-lost", undefined, { token: READ });
      expect(forbidden.status).toBe(403);
      expect(await nodeNames()).toEqual(["gpu-keep", "gpu-lost"]);

      const deleted = await api.rest("DELETE", "/nodes/gpu-lost");
      expect(deleted.status).toBe(204);
      expect(await nodeNames()).toEqual(["gpu-keep"]);
      expect((await api.rest("GET", "/nodes/gpu-lost")).status).toBe(404);
      expect(await keysOf("gpu-lost")).toEqual([]);
      expect(await api.redis.zscore(api.cp.keys.nodes(), "gpu-lost")).toBeNull();
      const [event] = await events("node.deleted");
      expect(event).toMatchObject({ node: "gpu-lost", message: expect.stringContaining("node gpu-lost deleted (it was lost)") });
      await waitFor("the node nudge", () => heard.includes("node:gpu-lost"));
    } finally {
      await subscriber.quit();
    }

    // The instance pinned there stays pending, waiting for a node of that name.
    expect((await api.rest("GET", "/instances/pinned")).body.status).toBe("pending");
    const again = await api.rest("DELETE", "/nodes/gpu-lost");
    expect(again.status).toBe(404);
    expect(again.body).toMatchObject({ code: "NODE_NOT_FOUND", error: 'node "gpu-lost" is not registered' });
  });

  it("refuses a node that runs or may get instances (409 naming why, nothing changed) until it is drained", async () => {
    api = await startApi();
    await addNode("gpu-busy");
    for (const name of ["one", "two"]) {
      expect((await api.rest("POST", "/instances", { name, model_id: "BAAI/bge-small-en-v1.5" })).status).toBe(201);
    }
    await until("both instances running", async () =>
      (await Promise.all(["one", "two"].map(async (n) => (await api.rest("GET", `/instances/${n}`)).body.status))).every((s) => s === "running"),
    );
    const keys = api.cp.keys;
    const bookkeeping = async () => ({
      node: await api.redis.get(keys.node("gpu-busy")),
      claims: await api.redis.hgetall(keys.nodeClaims("gpu-busy")),
      assignments: await api.redis.hgetall(keys.assignments("gpu-busy")),
    });
    const before = await bookkeeping();

    const refused = await api.rest("DELETE", "/nodes/gpu-busy");
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: "NODE_IN_USE", error: "node gpu-busy is ready with 2 assignments; drain it first" });
    expect(await bookkeeping()).toEqual(before);
    expect((await api.rest("GET", "/nodes/gpu-busy")).body).toMatchObject({ state: "ready", instance_count: 2 });
    expect(await events("node.deleted")).toEqual([]);

    await api.rest("POST", "/nodes/gpu-busy/cordon");
    expect((await api.rest("DELETE", "/nodes/gpu-busy")).body.error).toBe("node gpu-busy is cordoned with 2 assignments; drain it first");

    // Drained: its instances run elsewhere, nothing is left on it, and it may go.
    await addNode("gpu-next");
    expect((await api.rest("POST", "/nodes/gpu-busy/drain", { max_parallel: 2 })).status).toBe(200);
    await until("the drain to finish", async () => {
      const node = (await api.rest("GET", "/nodes/gpu-busy")).body;
      return !node.draining && node.instance_count === 0;
    });
    expect((await api.rest("DELETE", "/nodes/gpu-busy")).status).toBe(204);
    expect(await nodeNames()).toEqual(["gpu-next"]);
    expect((await events("node.deleted"))[0]?.message).toContain("node gpu-busy deleted (it was cordoned)");
    for (const name of ["one", "two"]) expect((await api.rest("GET", `/instances/${name}`)).body).toMatchObject({ status: "running", node: "gpu-next" });

    // A ready node may get an instance any moment, so even an idle one must be cordoned first.
    await addNode("gpu-idle");
    const idle = await api.rest("DELETE", "/nodes/gpu-idle");
    expect(idle.status).toBe(409);
    expect(idle.body.error).toBe("node gpu-idle is ready and schedulable; cordon or drain it first");
  });
});

describe("NodeService.DeleteNode over Connect", () => {
  it("deletes a lost node, refuses a busy one with FAILED_PRECONDITION, NOT_FOUND for unknown, admin only", async () => {
    api = await startApi();
    const lost = await addNode("rpc-lost");
    await addNode("rpc-busy");
    await runOn("rpc-busy", "busy");
    await loseNode(lost);
    const nodes = nodeClient();

    const forbidden = await nodeClient(READ)
      .deleteNode({ name: "rpc-lost" })
      .catch((e: unknown) => ConnectError.from(e));
    expect((forbidden as ConnectError).code).toBe(Code.PermissionDenied);

    await nodes.deleteNode({ name: "rpc-lost" });
    expect((await nodes.listNodes({})).nodes.map((n) => n.name)).toEqual(["rpc-busy"]);
    expect((await events("node.deleted")).map((e) => e.node)).toEqual(["rpc-lost"]);

    const busy = ConnectError.from(await nodes.deleteNode({ name: "rpc-busy" }).catch((e: unknown) => e));
    expect(busy.code).toBe(Code.FailedPrecondition);
    expect(busy.metadata.get("x-error-code")).toBe("NODE_IN_USE");
    expect(busy.rawMessage).toBe("node rpc-busy is ready with 1 assignment; drain it first");

    const unknown = ConnectError.from(await nodes.deleteNode({ name: "rpc-lost" }).catch((e: unknown) => e));
    expect(unknown.code).toBe(Code.NotFound);
    expect((await nodes.getNode({ name: "rpc-busy" })).node).toMatchObject({ state: "ready", instanceCount: 1 });
  });
});

describe("a deleted node that comes back", () => {
  it("heartbeats, is told to register, and joins anew; new assignments reach it whatever version it knew", async () => {
    api = await startApi();
    const agent = await addNode("gpu-back");
    await runOn("gpu-back", "pinned");
    const knownBefore = agent.knownVersion;
    const agentRpc = agentClient();
    await loseNode(agent);
    expect((await api.rest("DELETE", "/nodes/gpu-back")).status).toBe(204);

    // The real agent (node-agent/src/control-plane-session.ts) registers again when a heartbeat
    // answers reregister, and keeps the assignment version it applied before.
    const beat = await agentRpc.heartbeat({ nodeName: "gpu-back", epoch: agent.epoch, knownAssignmentsVersion: knownBefore });
    expect(beat.reregister).toBe(true);
    const registered = await agentRpc.register({ node: agent.node() });
    expect(registered.epoch).toBe(1n);
    expect((await api.rest("GET", "/nodes/gpu-back")).body).toMatchObject({ state: "ready", cordoned: false, epoch: 1 });
    expect((await events("node.joined")).filter((e) => e.node === "gpu-back")).toHaveLength(2);
    expect((await events("node.returned")).filter((e) => e.node === "gpu-back")).toEqual([]);

    // The pinned instance, pending since the node was lost, is placed on it again...
    await waitFor("the pinned instance placed again", async () =>
      (await api.rest("GET", "/instances/pinned")).body.replicas.some((r: { node: string }) => r.node === "gpu-back"),
    );
    // ...and a heartbeat carrying the version the agent applied in its earlier life gets it.
    const after = await agentRpc.heartbeat({ nodeName: "gpu-back", epoch: registered.epoch, knownAssignmentsVersion: knownBefore });
    expect(after.reregister).toBe(false);
    expect(after.assignmentsChanged).toBe(true);
    expect(after.assignments.map((a) => a.instanceName)).toEqual(["pinned"]);
    expect(after.assignments[0]!.epoch).toBe(registered.epoch);
  });

  it("a cordoned idle node deleted while its agent runs: its watch ends, and it registers as a new, uncordoned node", async () => {
    api = await startApi();
    const agent = await addNode("gpu-live");
    await api.rest("POST", "/nodes/gpu-live/cordon");
    const abort = new AbortController();
    const stream = agentClient().watchAssignments({ nodeName: "gpu-live", epoch: agent.epoch }, { signal: abort.signal })[Symbol.asyncIterator]();
    try {
      await stream.next(); // the current (empty) assignments
      expect((await api.rest("DELETE", "/nodes/gpu-live")).status).toBe(204);
      const ended = ConnectError.from(await stream.next().catch((e: unknown) => e));
      expect(ended.code).toBe(Code.FailedPrecondition);
    } finally {
      abort.abort();
    }
    expect((await agent.heartbeat())?.reregister).toBe(true); // and the simulated agent registers again
    expect((await api.rest("GET", "/nodes/gpu-live")).body).toMatchObject({ state: "ready", cordoned: false, epoch: 1 });
  });
});
