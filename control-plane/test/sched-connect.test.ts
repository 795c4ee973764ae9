import { create } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { AgentService, InstanceStatus, NodeSchema, NodeService, ReplicaStatusSchema, RouteService } from "@tei-fleet/proto/fleet/v1";
import { fastify } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";
import { registerAgentService, registerNodeService, registerRouteService } from "../src/connect/scheduler-services.ts";
import { installErrorHandlers } from "../src/rest/rest-errors.ts";
import { schedulerRestPlugin } from "../src/rest/scheduler-routes.ts";
import { DEFAULT_TIMINGS } from "../src/scheduler/index.ts";
import { placed, type SchedFixture, schedFixture } from "./sched-fixtures.ts";

let f: SchedFixture;
afterEach(async () => {
  // Closed once: a test that needs no fixture leaves none behind to close again.
  const fixture = f;
  f = undefined!;
  await fixture?.close();
});

function clients(fixture: SchedFixture) {
  const transport = createRouterTransport((router) => {
    registerAgentService(router, fixture.scheduler);
    registerRouteService(router, fixture.scheduler);
    registerNodeService(router, fixture.scheduler);
  });
  return {
    agent: createClient(AgentService, transport) as Client<typeof AgentService>,
    routes: createClient(RouteService, transport) as Client<typeof RouteService>,
    nodes: createClient(NodeService, transport) as Client<typeof NodeService>,
  };
}

const node = (name: string) =>
  create(NodeSchema, {
    name,
    address: "127.0.0.3",
    agentUrl: "http://127.0.0.3:9100",
    labels: { zone: "a" },
    agentVersion: "1.0.0",
    capacity: 4,
    gpus: [{ index: 0, uuid: "GPU-aaaa", name: "H100", memoryTotalMb: 81920n, memoryFreeMb: 81000n }],
    portRangeStart: 22000,
    portRangeEnd: 22099,
  });

describe("AgentService over Connect", () => {
  it("registers, streams assignments on change, and routes a replica once its heartbeat says running", async () => {
    f = await schedFixture();
    const { agent, routes, nodes } = clients(f);
    const { epoch, heartbeatIntervalMs, heartbeatTtlMs } = await agent.register({ node: node("gpu-1") });
    expect(epoch).toBe(1n);
    expect([heartbeatIntervalMs, heartbeatTtlMs]).toEqual([200, 1500]);

    const abort = new AbortController();
    const stream = agent.watchAssignments({ nodeName: "gpu-1", epoch }, { signal: abort.signal })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.assignments).toEqual([]);
    await f.putInstance({ name: "emb" });
    const update = (await stream.next()).value!;
    expect(update.assignments).toHaveLength(1);
    const a = update.assignments[0]!;
    expect(a).toMatchObject({ instanceName: "emb", port: 22000, prometheusPort: 22001, gpuUuids: ["GPU-aaaa"], epoch, desiredState: "running" });
    abort.abort();

    const hb = await agent.heartbeat({
      nodeName: "gpu-1",
      epoch,
      knownAssignmentsVersion: update.assignmentsVersion,
      replicas: [
        create(ReplicaStatusSchema, { assignmentId: a.assignmentId, status: InstanceStatus.RUNNING, pid: 42, modelType: "embedding", dimension: 384 }),
      ],
    });
    expect(hb).toMatchObject({ reregister: false, assignmentsChanged: false });
    const table = (await routes.getRoutes({})).table!;
    expect(table.routes).toEqual([expect.objectContaining({ instanceName: "emb", address: "127.0.0.3:22000", node: "gpu-1" })]);
    const [replica] = await placed(f, "emb");
    expect(replica).toMatchObject({ status: "running", pid: 42, model: expect.objectContaining({ dimension: 384 }) });

    const listed = (await nodes.listNodes({})).nodes;
    expect(listed[0]).toMatchObject({ name: "gpu-1", state: "ready", instanceCount: 1, epoch: 1n });
    expect(listed[0]!.gpus[0]!.memoryAllocatedMb).toBe(2048n);
  });

  it("asks an agent with an unknown or stale epoch to register again", async () => {
    f = await schedFixture();
    const { agent } = clients(f);
    expect((await agent.heartbeat({ nodeName: "nobody", epoch: 1n })).reregister).toBe(true);
    const { epoch } = await agent.register({ node: node("gpu-1") });
    const again = await agent.register({ node: node("gpu-1") });
    expect(again.epoch).toBe(epoch + 1n);
    expect((await agent.heartbeat({ nodeName: "gpu-1", epoch })).reregister).toBe(true);
    expect((await agent.heartbeat({ nodeName: "gpu-1", epoch: again.epoch })).reregister).toBe(false);
  });

  it("keeps the node's free GPU memory from heartbeats", async () => {
    f = await schedFixture();
    const { agent, nodes } = clients(f);
    const { epoch } = await agent.register({ node: node("gpu-1") });
    await agent.heartbeat({ nodeName: "gpu-1", epoch, gpuMemoryFreeMb: { 0: 60_000n } });
    const got = (await nodes.getNode({ name: "gpu-1" })).node!;
    expect(got.gpus[0]!.memoryFreeMb).toBe(60_000n);
    expect(got.lastHeartbeatMs).toBeGreaterThan(0n);
  });

  it("re-registering a live node keeps its assignments, stamped with the new epoch", async () => {
    f = await schedFixture();
    const { agent } = clients(f);
    const first = await agent.register({ node: node("gpu-1") });
    await f.putInstance({ name: "emb" });
    await f.until(async () => (await placed(f, "emb")).length === 1);
    const second = await agent.register({ node: node("gpu-1") });
    const hb = await agent.heartbeat({ nodeName: "gpu-1", epoch: second.epoch });
    expect(hb.assignments).toHaveLength(1);
    expect(hb.assignments[0]!.epoch).toBe(second.epoch);
    expect(second.epoch).toBe(first.epoch + 1n);
  });

  it("rejects a malformed registration with INVALID_ARGUMENT naming the problem", async () => {
    f = await schedFixture();
    const { agent } = clients(f);
    const err = await agent.register({ node: create(NodeSchema, { name: "bad name!", address: "x" }) }).catch((e) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toContain('node name "bad name!" is invalid');
    const noAddress = await agent.register({ node: create(NodeSchema, { name: "ok" }) }).catch((e) => e);
    expect((noAddress as ConnectError).rawMessage).toBe("node.address is required");
  });

  it("WatchRoutes sends the full table at once and again on every change", async () => {
    f = await schedFixture();
    const { routes } = clients(f);
    await f.addNode({ name: "a", gpusMb: [81920] });
    const abort = new AbortController();
    const stream = routes.watchRoutes({ knownVersion: 0n }, { signal: abort.signal })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.table?.routes).toEqual([]);
    await f.putInstance({ name: "emb" });
    const beating = setInterval(() => {
      void f.beat();
    }, 50);
    try {
      // Every change is a new table with a newer version: first "emb" unready (pending, starting), then routed.
      let next = (await stream.next()).value!;
      while (next.table!.routes.length === 0) {
        expect(next.table!.unready.map((u: { instanceName: string }) => u.instanceName)).toEqual(["emb"]);
        const later = (await stream.next()).value!;
        expect(later.table!.version).toBeGreaterThan(next.table!.version);
        next = later;
      }
      expect(next.table!.routes.map((r: { instanceName: string }) => r.instanceName)).toEqual(["emb"]);
      expect(next.table!.version).toBeGreaterThan(0n);
    } finally {
      clearInterval(beating);
      abort.abort();
    }
  });

  it("a backend reported failing by a quorum of routers leaves the route table; one router alone does not take it away", async () => {
    f = await schedFixture();
    const { routes } = clients(f);
    await f.addNode({ name: "a", gpusMb: [81920] });
    await f.putInstance({ name: "emb" });
    const [route] = await f.until(async () => {
      const t = (await f.scheduler.routes.get()).routes;
      return t.length === 1 && t;
    });
    const report = (routerId: string) => routes.reportBackendFailure({ assignmentId: route!.assignmentId, reason: "5 consecutive UNAVAILABLE", routerId });
    // The same router reporting again is still one router (a bad path from it, perhaps).
    await report("router-1");
    await report("router-1");
    expect((await f.scheduler.routes.get()).routes).toHaveLength(1);
    expect((await placed(f, "emb"))[0]!.status).toBe("running");
    // A second router agrees: the replica leaves every router's table.
    await report("router-2");
    expect((await f.scheduler.routes.get()).routes).toEqual([]);
    const replica = (await placed(f, "emb"))[0]!;
    expect(replica.status).toBe("unhealthy");
    expect(replica.reason).toContain("2 routers reported failures");
  });

  it("the quorum and its window are read from the environment and validated", () => {
    expect(DEFAULT_TIMINGS).toMatchObject({ ejectionQuorum: 2, ejectionReportWindowMs: 60_000 });
    expect(loadConfig({}, { TEI_FLEET_EJECTION_QUORUM: "3", TEI_FLEET_EJECTION_REPORT_WINDOW_MS: "30000" }).scheduler).toMatchObject({
      ejectionQuorum: 3,
      ejectionReportWindowMs: 30_000,
    });
    expect(() => loadConfig({}, { TEI_FLEET_EJECTION_QUORUM: "0" })).toThrow(/TEI_FLEET_EJECTION_QUORUM/);
  });

  it("a quorum of one (TEI_FLEET_EJECTION_QUORUM=1) acts on the first report", async () => {
    f = await schedFixture({ ejectionQuorum: 1 });
    const { routes } = clients(f);
    await f.addNode({ name: "a", gpusMb: [81920] });
    await f.putInstance({ name: "emb" });
    const [route] = await f.until(async () => {
      const t = (await f.scheduler.routes.get()).routes;
      return t.length === 1 && t;
    });
    await routes.reportBackendFailure({ assignmentId: route!.assignmentId, reason: "refused", routerId: "only" });
    expect((await f.scheduler.routes.get()).routes).toEqual([]);
  });
});

describe("node REST routes", () => {
  async function app(fixture: SchedFixture) {
    const server = fastify();
    installErrorHandlers(server);
    server.setValidatorCompiler(() => () => true);
    await server.register(schedulerRestPlugin, { scheduler: fixture.scheduler });
    return server;
  }

  it("lists nodes, cordons, drains and plans in snake_case JSON", async () => {
    f = await schedFixture();
    await f.addNode({ name: "a", gpusMb: [81920, 81920], labels: { gpu: "h100" } });
    const server = await app(f);
    const list = await server.inject({ method: "GET", url: "/nodes" });
    expect(list.statusCode).toBe(200);
    expect(list.json().nodes[0]).toMatchObject({
      name: "a",
      state: "ready",
      cordoned: false,
      labels: { gpu: "h100" },
      epoch: 1,
      gpus: [expect.objectContaining({ index: 0, memory_total_mb: 81920, memory_allocated_mb: 0 }), expect.anything()],
    });
    expect((await server.inject({ method: "POST", url: "/nodes/a/cordon" })).json()).toMatchObject({ cordoned: true });
    expect((await server.inject({ method: "POST", url: "/nodes/a/uncordon" })).json()).toMatchObject({ cordoned: false });
    const drain = await server.inject({ method: "POST", url: "/nodes/a/drain", payload: { max_parallel: 2, deadline_secs: 30 } });
    expect(drain.json()).toMatchObject({ cordoned: true, draining: true });

    await server.inject({ method: "POST", url: "/nodes/a/uncordon" });
    const plan = await server.inject({
      method: "POST",
      url: "/plan",
      payload: {
        instances: [
          { name: "small", model_id: "BAAI/bge-small-en-v1.5", replicas: 2, placement_policy: "spread" },
          { name: "huge", model_id: "x/y", gpu_memory_mb: 100_000 },
        ],
      },
    });
    expect(plan.statusCode).toBe(200);
    expect(plan.json().replicas).toEqual([
      { instance: "small", index: 0, fits: true, node: "a", gpu_ids: [expect.any(Number)], reason: "" },
      { instance: "small", index: 1, fits: true, node: "a", gpu_ids: [expect.any(Number)], reason: "" },
      { instance: "huge", index: 0, fits: false, node: "", gpu_ids: [], reason: "insufficient GPU memory on 0/1 eligible nodes" },
    ]);
    const [p0, p1] = plan.json().replicas;
    expect(p0.gpu_ids).not.toEqual(p1.gpu_ids);
    // A plan changes nothing.
    expect(await f.redis.hgetall(f.keys.nodeClaims("a"))).toEqual({});
    await server.close();
  });

  it("answers errors as JSON naming the field", async () => {
    f = await schedFixture();
    await f.addNode({ name: "a", gpusMb: [81920] });
    const server = await app(f);
    const missing = await server.inject({ method: "GET", url: "/nodes/ghost" });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: "NODE_NOT_FOUND", error: 'node "ghost" is not registered' });
    const badDrain = await server.inject({ method: "POST", url: "/nodes/a/drain", payload: { max_parallel: 0 } });
    expect(badDrain.statusCode).toBe(400);
    expect(badDrain.json()).toMatchObject({ field: "max_parallel" });
    const badPlan = await server.inject({ method: "POST", url: "/plan", payload: { instances: [{ name: "x", model_id: "m", node: "a", gpu_id: 3 }] } });
    expect(badPlan.statusCode).toBe(400);
    expect(badPlan.json()).toMatchObject({ field: "instances.0.gpu_id", error: "node a has no GPU 3 (it has 0)" });
    await server.close();
  });
});
