import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { InstanceService } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { byInstance, createTeiClients, type LocalFleet, startLocalFleet, waitFor } from "../harness/index.ts";

/** What the fake TEI recorded about how it was started (FAKE_TEI_RECORD_FILE). */
interface LaunchRecord {
  pid: number;
  argv: string[];
  env: Record<string, string>;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const count = (argv: string[], flag: string) => argv.filter((a) => a === flag || a.startsWith(`${flag}=`)).length;
const flagValue = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1];

describe("walking skeleton: REST and Connect to an embedding through the router, across real processes", () => {
  let fleet: LocalFleet;
  let records: string;

  beforeAll(async () => {
    records = mkdtempSync(join(tmpdir(), "tei-fleet-records-"));
    fleet = await startLocalFleet({ agents: 2, agentEnv: { FAKE_TEI_RECORD_FILE: join(records, "{port}.json") } });
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
    rmSync(records, { recursive: true, force: true });
  }, 60_000);

  const launchRecord = (port: number): LaunchRecord => JSON.parse(readFileSync(join(records, `${port}.json`), "utf8"));
  const running = (name: string) =>
    waitFor(
      `${name} to be running`,
      async () => {
        const { body } = await fleet.api("GET", `/instances/${name}`);
        return body?.status === "running" ? body : undefined;
      },
      45_000,
    );

  it("places an instance created over REST and one created over Connect, and serves both through the router", async () => {
    const rest = await fleet.api("POST", "/instances", { name: "small", model_id: "BAAI/bge-small-en-v1.5" });
    expect(rest.status).toBe(201);
    expect(rest.body).toMatchObject({ name: "small", model_id: "BAAI/bge-small-en-v1.5" });

    const cp = createClient(InstanceService, createGrpcTransport({ baseUrl: fleet.controlPlaneUrl }));
    const auth = { headers: { authorization: `Bearer ${fleet.adminToken}` } };
    const viaConnect = await cp.createInstance({ spec: { name: "mpnet", modelId: "sentence-transformers/all-mpnet-base-v2" } }, auth);
    expect(viaConnect.instance?.spec?.name).toBe("mpnet");

    const small = await running("small");
    const mpnet = await running("mpnet");
    expect(fleet.agents.map((a) => a.name)).toContain(small.node);
    expect(fleet.agents.map((a) => a.name)).toContain(mpnet.node);

    for (const [instance, dim] of [
      [small, 384],
      [mpnet, 768],
    ] as const) {
      // The TEI process got each managed flag exactly once and its GPU's UUID.
      const launch = launchRecord(instance.port);
      expect(alive(launch.pid)).toBe(true);
      for (const flag of ["--model-id", "--port", "--prometheus-port", "--hostname"]) expect(count(launch.argv, flag), flag).toBe(1);
      expect(flagValue(launch.argv, "--model-id")).toBe(instance.model_id);
      expect(flagValue(launch.argv, "--port")).toBe(String(instance.port));
      const agent = fleet.agents.find((a) => a.name === instance.node)!;
      expect(flagValue(launch.argv, "--hostname")).toBe(agent.address);
      const node = (await fleet.api("GET", `/nodes/${instance.node}`)).body;
      const gpuIds: number[] = instance.gpu_ids ?? [instance.gpu_id];
      const uuids = gpuIds.map((id) => node.gpus.find((g: { index: number }) => g.index === id).uuid);
      expect(launch.env.CUDA_VISIBLE_DEVICES).toBe(uuids.join(","));

      // Both forms through the router, with the model's dimension.
      const clients = createTeiClients(fleet.routers[0]!.url);
      const mux = await waitFor(
        `the router to route ${instance.name}`,
        () => clients.mux.embed({ target: byInstance(instance.name), request: { inputs: "hello fleet" } }),
        15_000,
      );
      expect(mux.embeddings).toHaveLength(dim);
      const plain = await clients.embed.embed({ inputs: "hello fleet" }, { headers: { "x-tei-instance": instance.name } });
      expect(plain.embeddings).toEqual(mux.embeddings);
    }
  }, 120_000);

  it("offers each TEI's Prometheus port and each agent for scraping at /sd/prometheus", async () => {
    const { body: groups } = await fleet.api("GET", "/sd/prometheus");
    for (const name of ["small", "mpnet"]) {
      const { body: instance } = await fleet.api("GET", `/instances/${name}`);
      const host = instance.address.split(":")[0];
      const group = groups.find((g: { labels: Record<string, string> }) => g.labels.tei_instance === name);
      expect(group.targets).toEqual([`${host}:${instance.prometheus_port}`]);
      expect(group.labels).toMatchObject({ job: "tei", tei_model: instance.model_id, tei_node: instance.node });
      const scraped = await (await fetch(`http://${group.targets[0]}/metrics`)).text();
      expect(scraped).toContain("te_request_count");
    }
    const agents = groups.filter((g: { labels: Record<string, string> }) => g.labels.job === "tei-node-agent");
    expect(agents.map((g: { labels: Record<string, string> }) => g.labels.tei_node).sort()).toEqual(fleet.agents.map((a) => a.name));
    expect((await fetch(`${fleet.controlPlaneUrl}/sd/prometheus`)).status).toBe(401);
  });

  it("deleting an instance stops its process, and the router answers NOT_FOUND for it", async () => {
    const { body: small } = await fleet.api("GET", "/instances/small");
    const { pid } = launchRecord(small.port);
    expect((await fleet.api("DELETE", "/instances/small")).status).toBe(204);
    expect((await fleet.api("GET", "/instances/small")).status).toBe(404);
    await waitFor("the TEI process to exit", () => !alive(pid), 20_000);

    const clients = createTeiClients(fleet.routers[0]!.url);
    const err = await waitFor(
      "the router to forget small",
      async () => {
        try {
          await clients.mux.embed({ target: byInstance("small"), request: { inputs: "x" } });
          return undefined;
        } catch (e) {
          const c = ConnectError.from(e);
          return c.code === Code.NotFound ? c : undefined;
        }
      },
      10_000,
    );
    expect(err.code).toBe(Code.NotFound);
    // The other instance is untouched.
    const still = await clients.mux.embed({ target: byInstance("mpnet"), request: { inputs: "x" } });
    expect(still.embeddings).toHaveLength(768);
  }, 60_000);

  it("a stopped instance is known but not ready: the router answers UNAVAILABLE, naming it", async () => {
    expect((await fleet.api("POST", "/instances/mpnet/stop")).status).toBe(200);
    const clients = createTeiClients(fleet.routers[0]!.url);
    const err = await waitFor(
      "the router to see mpnet unready",
      async () => {
        try {
          await clients.mux.embed({ target: byInstance("mpnet"), request: { inputs: "x" } });
          return undefined;
        } catch (e) {
          const c = ConnectError.from(e);
          return c.code === Code.Unavailable ? c : undefined;
        }
      },
      10_000,
    );
    expect(err.rawMessage).toContain('instance "mpnet" has no ready replica');
    await expect(clients.embed.embed({ inputs: "x" }, { headers: { "x-tei-model": "sentence-transformers/all-mpnet-base-v2" } })).rejects.toMatchObject({
      code: Code.Unavailable,
    });
  }, 30_000);

  it("rejects bad input with clear errors and keeps every process up", async () => {
    const before = (await fleet.api("GET", "/instances")).body;
    const bad = await fleet.api("POST", "/instances", { name: "Bad/Name", model_id: "BAAI/bge-small-en-v1.5" });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/name/);
    const noModel = await fleet.api("POST", "/instances", { name: "nomodel" });
    expect(noModel.status).toBe(400);
    expect(JSON.stringify(noModel.body)).toMatch(/model_id/);
    expect((await fleet.api("GET", "/instances")).body).toEqual(before);

    const clients = createTeiClients(fleet.routers[0]!.url);
    await expect(clients.mux.embed({ target: byInstance("nope"), request: { inputs: "x" } })).rejects.toMatchObject({ code: Code.NotFound });
    await expect(clients.mux.embed({ request: { inputs: "x" } })).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(clients.embed.embed({ inputs: "x" }, { headers: { "x-tei-instance": "nope" } })).rejects.toMatchObject({ code: Code.NotFound });

    for (const p of [fleet.controlPlane, ...fleet.agents.map((a) => a.process), ...fleet.routers.map((r) => r.process)]) {
      expect(p.child.exitCode, p.name).toBeNull();
    }
  }, 30_000);
});
