import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { instanceStatusFromProto } from "@tei-fleet/core";
import { AgentService, InstanceService, RouteService } from "@tei-fleet/proto/fleet/v1";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { SimulatedAgent } from "../bench/simulated-agent.ts";
import { FleetHealthSchema, InstanceViewSchema } from "../src/rest/schemas.ts";
import { ADMIN, type ApiFixture, bearer, JOIN, startApi, waitFor } from "./api-fixtures.ts";

// Issue 9, defect 1, defence in depth: records written straight into Redis, as an older control
// plane wrote them (a lone surrogate: the API used to take `"\ud800"`) or as no control plane
// ever would (not JSON, not an Instance). None may take a listing, the route table or the
// reconcile loop down; what can be read is read; what cannot is listed as unreadable, reported
// once, and deletable.

let api: ApiFixture;
let agent: SimulatedAgent;
const logLines: Array<{ msg: string; instance?: string }> = [];

const transport = (token: string) => createConnectTransport({ baseUrl: api.url, httpVersion: "1.1", interceptors: [bearer(token)] });

beforeAll(async () => {
  const logger = pino(
    { level: "warn" },
    {
      write: (line: string) => {
        logLines.push(JSON.parse(line) as { msg: string });
      },
    },
  );
  api = await startApi({ logger });
  const agents = createClient(AgentService, transport(JOIN));
  agent = new SimulatedAgent(
    {
      register: (node) => agents.register({ node }),
      heartbeat: (request) => agents.heartbeat(request),
      leave: (nodeName, epoch) => agents.leave({ nodeName, epoch }),
    },
    { name: "gpu-a", gpusMb: [81920] },
  );
  await agent.register();
});
afterAll(async () => {
  await api.close();
});

const MODEL = "BAAI/bge-small-en-v1.5";
/** Heartbeats until `check` holds. */
const until = <T>(what: string, check: () => Promise<T | undefined | false>) =>
  waitFor(
    what,
    async () => {
      await agent.heartbeat();
      return check();
    },
    15_000,
  );
const view = async (name: string) => (await api.rest("GET", `/instances/${name}`)).body;
const runs = (name: string) => until(`${name} running`, async () => (await view(name)).status === "running");
/** Creation scores, one apart, so that the listing order is the order of writing. */
let created = Date.now();
/** Writes a record as an older control plane did: the record and its index entry, nothing else. */
async function storeRaw(name: string, record: string) {
  created = Math.max(created + 1, Date.now());
  await api.redis.multi().set(api.cp.keys.instance(name), record).zadd(api.cp.keys.instances(), created, name).exec();
}
const events = async (kind: string, instance: string) =>
  ((await api.rest("GET", "/events?limit=1000")).body.events as Array<{ kind: string; instance: string | null; message: string }>).filter(
    (e) => e.kind === kind && e.instance === instance,
  );
const routes = async () => (await createClient(RouteService, transport(JOIN)).getRoutes({})).table!;

/** What an older control plane stored for `{"name":"poisoned","model_id":"\ud800",...}` (JSON text, escapes as written). */
const POISONED = String.raw`{"spec":{"name":"poisoned","modelId":"m/\ud800","extraArgs":["--revision","\udc00"],"nodeSelector":{"\ud801":"x"},"desiredState":"stopped"},"revision":"3","createdAtMs":"1700000000000"}`;

describe("records that cannot be decoded as they are", () => {
  beforeAll(async () => {
    expect((await api.rest("POST", "/instances", { name: "good", model_id: MODEL })).status).toBe(201);
    expect((await api.rest("POST", "/instances", { name: "victim", model_id: MODEL })).status).toBe(201);
    await runs("good");
    await runs("victim");
    await storeRaw("poisoned", POISONED);
    await storeRaw("garbage", "not JSON at all {");
    await storeRaw("misshapen", '{"spec":{"name":"misshapen","modelId":"m/m","replicas":"many"},"revision":"7"}');
    // A running instance whose record goes bad: its replica must be left alone, not retired.
    await api.redis.set(api.cp.keys.instance("victim"), '{"spec":');
  });

  it("GET /instances lists everything: repaired records as they read, undecodable ones as unreadable", async () => {
    const res = await api.rest("GET", "/instances");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const list = z.array(InstanceViewSchema).parse(res.body);
    const byName = new Map(list.map((v) => [v.name, v]));
    expect([...byName.keys()]).toEqual(["good", "victim", "poisoned", "garbage", "misshapen"]);
    expect(byName.get("good")).toMatchObject({ status: "running", model_id: MODEL });
    expect(byName.get("poisoned")).toMatchObject({
      model_id: "m/\ufffd",
      extra_args: ["--revision", "\ufffd"],
      status: "stopped",
      revision: 3,
      spec: expect.objectContaining({ node_selector: { "\ufffd": "x" } }),
    });
    for (const name of ["garbage", "misshapen", "victim"]) {
      expect(byName.get(name), name).toMatchObject({ status: "unreadable", healthy: false, desired_state: "unknown", spec: {} });
      expect(byName.get(name)!.reason).toContain("the stored record cannot be decoded");
      expect(byName.get(name)!.reason).toContain(`DELETE /instances/${name}`);
    }
    expect(byName.get("garbage")!.reason).toContain("not JSON");
    // The revision a Lua script reads is shown, so the two agree.
    expect(byName.get("misshapen")!.revision).toBe(7);
    // The bad record's replica is still shown as it runs.
    expect(byName.get("victim")!.replicas).toEqual([expect.objectContaining({ status: "running", node: "gpu-a" })]);
    expect(JSON.stringify(res.body).isWellFormed()).toBe(true);
  });

  it("GET of one: a repaired record reads; an unreadable one is 409 RECORD_UNREADABLE saying how to remove it", async () => {
    const poisoned = await api.rest("GET", "/instances/poisoned");
    expect(poisoned.status).toBe(200);
    expect(poisoned.body.model_id).toBe("m/\ufffd");
    for (const path of ["/instances/garbage", "/instances/garbage/health", "/instances/garbage/info"]) {
      const res = await api.rest("GET", path);
      expect(res.status, path).toBe(409);
      expect(res.body).toMatchObject({ code: "RECORD_UNREADABLE", field: "name" });
      expect(res.body.error).toContain("DELETE /instances/garbage");
    }
    expect((await api.rest("PATCH", "/instances/garbage", { replicas: 2 })).body.code).toBe("RECORD_UNREADABLE");
    expect((await api.rest("POST", "/instances/garbage/restart")).body.code).toBe("RECORD_UNREADABLE");
    // The name is taken all the same.
    expect((await api.rest("POST", "/instances", { name: "garbage", model_id: MODEL })).body.code).toBe("INSTANCE_EXISTS");
  });

  it("/health/all, /sd/prometheus, /metrics and Connect ListInstances / GetFleetHealth keep working", async () => {
    const health = await api.rest("GET", "/health/all");
    expect(health.status).toBe(200);
    const fleet = FleetHealthSchema.parse(health.body);
    expect(fleet.instances.find((h) => h.instance === "good")).toMatchObject({ healthy: true, status: "running" });
    expect(fleet.instances.find((h) => h.instance === "garbage")).toMatchObject({ healthy: false, status: "unreadable" });
    const sd = await api.rest("GET", "/sd/prometheus");
    expect(sd.status).toBe(200);
    expect(sd.body.map((g: { labels: { tei_instance?: string } }) => g.labels.tei_instance)).toContain("good");
    const metrics = await fetch(`${api.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/tei_fleet_instances\{status="unreadable"\} 3/);

    const client = createClient(InstanceService, transport(ADMIN));
    const { instances } = await client.listInstances({});
    // Connect carries proto's enum; core maps it to the words REST shows.
    expect(instances.map((i) => [i.spec?.name, instanceStatusFromProto(i.status)])).toEqual([
      ["good", "running"],
      ["victim", "unreadable"],
      ["poisoned", "stopped"],
      ["garbage", "unreadable"],
      ["misshapen", "unreadable"],
    ]);
    expect((await client.getFleetHealth({})).totalInstances).toBe(5);
    const err = await client.getInstance({ name: "garbage" }).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.FailedPrecondition);
    expect(ConnectError.from(err).metadata.get("x-error-code")).toBe("RECORD_UNREADABLE");
  });

  it("the route table is still published: the good routes, the unreadable ones as unready, and an instance created now gets its route", async () => {
    const table = await routes();
    expect(table.routes.map((r) => r.instanceName).sort()).toEqual(["good", "victim"]);
    expect(table.unready.find((u) => u.instanceName === "garbage")?.reason).toMatch(/^unreadable: the stored record cannot be decoded/);
    expect(table.unready.find((u) => u.instanceName === "poisoned")).toMatchObject({ modelId: "m/\ufffd", reason: "stopped" });

    // The reconcile loop goes on for everything else.
    expect((await api.rest("POST", "/instances", { name: "after", model_id: MODEL })).status).toBe(201);
    await runs("after");
    await until("a route for after", async () => (await routes()).routes.some((r) => r.instanceName === "after"));
    // ...and leaves the unreadable instance's running replica alone: neither retired nor replaced.
    expect(Object.keys(await api.redis.hgetall(api.cp.keys.replicas("victim")))).toHaveLength(1);
    expect(Object.keys(await api.redis.hgetall(api.cp.keys.assignments("gpu-a"))).filter((id) => id.startsWith("victim-"))).toHaveLength(1);
  });

  it("each problem record is reported once: one log line and one event, however often it is read", async () => {
    for (let i = 0; i < 3; i++) await api.rest("GET", "/instances");
    await until(
      "the reports",
      async () => (await events("instance.unreadable", "misshapen")).length > 0 && (await events("instance.malformed", "poisoned")).length > 0,
    );
    // A couple of reconcile intervals and more reads later (heartbeating, so the node stays), still one of each.
    for (const end = Date.now() + 2500; Date.now() < end; ) {
      await agent.heartbeat();
      await new Promise((r) => setTimeout(r, 200));
    }
    await api.rest("GET", "/health/all");
    await routes();
    for (const name of ["garbage", "misshapen", "victim"]) {
      const [event, ...more] = await events("instance.unreadable", name);
      expect(more, name).toEqual([]);
      expect(event!.message).toContain(`DELETE /instances/${name}`);
      expect(
        logLines.filter((l) => l.instance === name && l.msg.startsWith("instance record cannot be decoded")),
        name,
      ).toHaveLength(1);
    }
    const malformed = await events("instance.malformed", "poisoned");
    expect(malformed).toHaveLength(1);
    expect(malformed[0]!.message).toContain("spec.modelId");
    expect(malformed[0]!.message).toContain("spec.extraArgs.1");
    expect(logLines.filter((l) => l.instance === "poisoned")).toHaveLength(1);
  });
});

describe("removing and fixing them", () => {
  it("PATCH of a repaired record writes it back well-formed; DELETE at its revision works on a record cjson cannot read", async () => {
    const patched = await api.rest("PATCH", "/instances/poisoned", { model_id: "m/fixed", extra_args: [], node_selector: null });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body).toMatchObject({ model_id: "m/fixed", revision: 4 });
    expect((await api.redis.get(api.cp.keys.instance("poisoned")))!.isWellFormed()).toBe(true);
    expect(await api.redis.get(api.cp.keys.instance("poisoned"))).not.toContain("\\ud");
    expect((await api.rest("DELETE", "/instances/poisoned")).status).toBe(204);

    // A second one, deleted with a revision precondition: the Lua script reads past the surrogates.
    await storeRaw("poisoned", POISONED);
    const client = createClient(InstanceService, transport(ADMIN));
    const stale = await client.deleteInstance({ name: "poisoned", expectedRevision: 2n }).catch((e: unknown) => e);
    expect(ConnectError.from(stale).code).toBe(Code.Aborted);
    expect(ConnectError.from(stale).message).toContain("at revision 3");
    await client.deleteInstance({ name: "poisoned", expectedRevision: 3n });
    expect((await api.rest("GET", "/instances/poisoned")).status).toBe(404);
  });

  it("DELETE removes unreadable records, and the scheduler then releases their replicas", async () => {
    for (const name of ["garbage", "misshapen", "victim"]) {
      const res = await api.rest("DELETE", `/instances/${name}`);
      expect(res.status, `${name}: ${JSON.stringify(res.body)}`).toBe(204);
      expect((await api.rest("GET", `/instances/${name}`)).status).toBe(404);
    }
    await until(
      "victim's replica released",
      async () =>
        Object.keys(await api.redis.hgetall(api.cp.keys.assignments("gpu-a"))).every((id) => !id.startsWith("victim-")) &&
        (await api.redis.hlen(api.cp.keys.replicas("victim"))) === 0 &&
        (await routes()).routes.every((r) => r.instanceName !== "victim"),
    );
    const list = (await api.rest("GET", "/instances")).body as Array<{ name: string; status: string }>;
    expect(list.map((v) => [v.name, v.status])).toEqual([
      ["good", "running"],
      ["after", "running"],
    ]);
  });
});
