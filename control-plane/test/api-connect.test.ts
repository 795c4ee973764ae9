import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { type Client, Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { type Event, InstanceService, InstanceStatus, RouteService } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, type ApiFixture, bearer, JOIN, READ, startApi } from "./api-fixtures.ts";

const run = promisify(execFile);
let api: ApiFixture;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

/** Every protocol and HTTP version the one port must serve. */
const transports: [string, (baseUrl: string, interceptors: Interceptor[]) => Transport][] = [
  ["gRPC (HTTP/2)", (baseUrl, interceptors) => createGrpcTransport({ baseUrl, interceptors })],
  ["Connect JSON over HTTP/1.1", (baseUrl, interceptors) => createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors })],
  ["Connect binary over HTTP/2", (baseUrl, interceptors) => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, interceptors })],
  ["gRPC-web over HTTP/1.1", (baseUrl, interceptors) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors })],
];

/** Expects a rejected call with this Connect code and (optionally) catalogue code and field. */
async function expectCode(call: Promise<unknown>, code: Code, apiCode?: string, field?: string) {
  const err = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err, "the call should have failed").toBeDefined();
  expect(Code[err!.code]).toBe(Code[code]);
  if (apiCode) expect(err!.metadata.get("x-error-code")).toBe(apiCode);
  if (field) expect(err!.metadata.get("x-error-field")).toBe(field);
}

describe.each(transports)("InstanceService over %s", (label, make) => {
  let client: Client<typeof InstanceService>;
  const n = (base: string) => `${base}-${label.replace(/[^a-z0-9]/gi, "").toLowerCase()}`;
  beforeAll(() => {
    client = createClient(InstanceService, make(api.url, [bearer(ADMIN)]));
  });

  it("creates, reads, lists, updates, stops, starts, restarts and deletes an instance", async () => {
    const name = n("life");
    const created = await client.createInstance({ spec: { name, modelId: "BAAI/bge-small-en-v1.5", maxBatchTokens: 1024, extraArgs: ["--dtype", "float16"] } });
    expect(created.instance?.spec).toMatchObject({ name, modelId: "BAAI/bge-small-en-v1.5", maxBatchTokens: 1024, desiredState: "running" });
    expect(created.instance?.revision).toBe(1n);
    expect(created.instance?.status).toBe(InstanceStatus.PENDING);
    expect((await client.getInstance({ name })).instance?.spec?.name).toBe(name);
    expect((await client.listInstances({})).instances.map((i) => i.spec?.name)).toContain(name);
    const updated = await client.updateInstance({ name, spec: { maxBatchTokens: 2048 }, expectedRevision: 1n });
    expect(updated.instance).toMatchObject({ revision: 2n, spec: { maxBatchTokens: 2048, extraArgs: ["--dtype", "float16"] } });
    expect((await client.stopInstance({ name })).instance?.spec?.desiredState).toBe("stopped");
    expect((await client.startInstance({ name })).instance?.spec?.desiredState).toBe("running");
    expect((await client.restartInstance({ name })).instance?.spec?.name).toBe(name);
    // The same instance through REST: one service behind both surfaces.
    const rest = await api.rest("GET", `/instances/${name}`);
    expect(rest.body).toMatchObject({ name, revision: 4, max_batch_tokens: 2048 });
    await client.deleteInstance({ name });
    await expectCode(client.getInstance({ name }), Code.NotFound, "INSTANCE_NOT_FOUND");
  });

  it("maps errors as REST does: NOT_FOUND, ALREADY_EXISTS, INVALID_ARGUMENT with the field, ABORTED for a stale revision", async () => {
    const name = n("errs");
    await expectCode(client.getInstance({ name: "ghost" }), Code.NotFound, "INSTANCE_NOT_FOUND");
    await client.createInstance({ spec: { name, modelId: "m/m" } });
    await expectCode(client.createInstance({ spec: { name, modelId: "m/m" } }), Code.AlreadyExists, "INSTANCE_EXISTS", "name");
    await expectCode(client.createInstance({ spec: { name: "Bad_Name", modelId: "m/m" } }), Code.InvalidArgument, "INVALID_INSTANCE_NAME", "name");
    await expectCode(
      client.createInstance({ spec: { name: n("flags"), modelId: "m/m", extraArgs: ["--prometheus-port=9100"] } }),
      Code.InvalidArgument,
      "MANAGED_FLAG",
      "extra_args",
    );
    await expectCode(client.createInstance({ spec: { name: n("port"), modelId: "m/m", port: 80 } }), Code.InvalidArgument, "INVALID_PORT", "port");
    // Unset in proto3 is missing, as a REST body without model_id is.
    await expectCode(client.createInstance({ spec: { name: n("nomodel") } }), Code.InvalidArgument, "MISSING_FIELD", "model_id");
    await expectCode(client.updateInstance({ name, spec: { maxBatchTokens: 5 }, expectedRevision: 7n }), Code.Aborted, "REVISION_MISMATCH");
    await expectCode(client.deleteInstance({ name, expectedRevision: 9n }), Code.Aborted, "REVISION_MISMATCH");
    await expectCode(client.getInstanceLogs({ name, tail: 20_000 }), Code.InvalidArgument, "VALIDATION_ERROR", "tail");
  });

  it("a retried create with the same idempotency key returns the first instance", async () => {
    const name = n("idem");
    const key = `key-${name}`;
    const first = await client.createInstance({ spec: { name, modelId: "m/m" }, idempotencyKey: key });
    const again = await client.createInstance({ spec: { name, modelId: "m/m" }, idempotencyKey: key });
    expect(again.instance?.createdAtMs).toBe(first.instance?.createdAtMs);
    await expectCode(client.createInstance({ spec: { name, modelId: "other/m" }, idempotencyKey: key }), Code.FailedPrecondition, "IDEMPOTENCY_KEY_MISMATCH");
  });

  it("answers health, fleet health, events and a placement plan", async () => {
    const name = n("health");
    await client.createInstance({ spec: { name, modelId: "m/m" } });
    const health = await client.getInstanceHealth({ name });
    expect(health.health).toMatchObject({ instance: name, healthy: false });
    const fleet = await client.getFleetHealth({});
    expect(fleet.totalInstances).toBeGreaterThan(0);
    expect(fleet.instances.map((i) => i.instance)).toContain(name);
    const first = await client.listEvents({ limit: 1 });
    expect(first.events).toHaveLength(1);
    const next = await client.listEvents({ afterEventId: first.nextCursor, limit: 1000 });
    expect(next.events.some((e) => e.kind === "instance.created" && e.instance === name)).toBe(true);
    expect(next.events[0]!.id > first.events[0]!.id || next.events[0]!.id.length > first.events[0]!.id.length).toBe(true);
    const plan = await client.plan({ specs: [{ name: n("planned"), modelId: "m/m" }] });
    expect(plan.replicas).toHaveLength(1);
    expect(plan.replicas[0]).toMatchObject({ fits: false });
  });

  it("streams fleet events with Watch, live and resumed from a cursor", async () => {
    const name = n("watched");
    const before = await client.listEvents({ limit: 1000 });
    const controller = new AbortController();
    const seen: Event[] = [];
    const live = (async () => {
      try {
        for await (const res of client.watch({}, { signal: controller.signal })) {
          if (res.event?.instance === name) seen.push(res.event);
          if (seen.some((e) => e.kind === "instance.deleted")) break;
        }
      } catch (err) {
        if (ConnectError.from(err).code !== Code.Canceled) throw err;
      }
    })();
    // Let the stream open before the changes happen ("from now on" semantics).
    await new Promise((r) => setTimeout(r, 300));
    await api.rest("POST", "/instances", { name, model_id: "m/m" });
    await api.rest("DELETE", `/instances/${name}`);
    const timer = setTimeout(() => controller.abort(), 8000);
    await live;
    clearTimeout(timer);
    expect(seen.map((e) => e.kind).filter((k) => k !== "instance.pending")).toEqual(["instance.created", "instance.deleted"]);

    // Resuming from the cursor taken before replays what happened since, then continues live.
    const resumed: string[] = [];
    const resume = new AbortController();
    const t2 = setTimeout(() => resume.abort(), 8000);
    try {
      for await (const res of client.watch({ afterEventId: before.nextCursor }, { signal: resume.signal })) {
        if (res.event?.instance === name) resumed.push(res.event.kind);
        if (resumed.includes("instance.deleted")) break;
      }
    } finally {
      clearTimeout(t2);
    }
    expect(resumed.filter((k) => k !== "instance.pending")).toEqual(["instance.created", "instance.deleted"]);
  });

  it("enforces token scopes: none is UNAUTHENTICATED, read may only read, join may not touch instances", async () => {
    await api.rest("POST", "/instances", { name: n("scoped"), model_id: "m/m" });
    const anonymous = createClient(InstanceService, make(api.url, []));
    await expectCode(anonymous.listInstances({}), Code.Unauthenticated, "UNAUTHENTICATED");
    const reader = createClient(InstanceService, make(api.url, [bearer(READ)]));
    expect((await reader.listInstances({})).instances.length).toBeGreaterThan(0);
    await expectCode(reader.createInstance({ spec: { name: n("nope"), modelId: "m/m" } }), Code.PermissionDenied, "FORBIDDEN");
    const agent = createClient(InstanceService, make(api.url, [bearer(JOIN)]));
    await expectCode(agent.listInstances({}), Code.PermissionDenied, "FORBIDDEN");
    const routes = createClient(RouteService, make(api.url, [bearer(JOIN)]));
    await routes.getRoutes({});
    await expectCode(createClient(RouteService, make(api.url, [bearer(READ)])).getRoutes({}), Code.PermissionDenied);
  });
});

describe("one port for every client", () => {
  it("serves curl over HTTP/1.1 (no --http2-prior-knowledge) and Connect JSON over h2c, next to gRPC", async () => {
    const health = await run("curl", ["-sS", "--fail", `${api.url}/health`]);
    expect(JSON.parse(health.stdout).status).toBe("healthy");
    const list = await run("curl", ["-sS", "--fail", "-H", `authorization: Bearer ${READ}`, `${api.url}/instances`]);
    expect(Array.isArray(JSON.parse(list.stdout))).toBe(true);
    const rpc = await run("curl", [
      "-sS",
      "--fail",
      "--http2-prior-knowledge",
      "-H",
      "content-type: application/json",
      "-H",
      `authorization: Bearer ${READ}`,
      "-d",
      "{}",
      `${api.url}/tei_fleet.v1.InstanceService/ListInstances`,
    ]);
    expect(JSON.parse(rpc.stdout).instances.length).toBeGreaterThan(0);
    const h1rpc = await run("curl", [
      "-sS",
      "-H",
      "content-type: application/json",
      "-d",
      '{"name":',
      "-H",
      `authorization: Bearer ${READ}`,
      `${api.url}/tei_fleet.v1.InstanceService/GetInstance`,
    ]);
    expect(JSON.parse(h1rpc.stdout).code).toBe("invalid_argument");
  });
});
