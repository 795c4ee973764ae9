import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorSchema, EventPageSchema, FleetHealthSchema, InstanceHealthSchema, InstanceInfoSchema, InstanceViewSchema } from "../src/rest/schemas.ts";
import { type ApiFixture, startApi } from "./api-fixtures.ts";

let api: ApiFixture;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

const spec = (name: string, extra: Record<string, unknown> = {}) => ({ name, model_id: "BAAI/bge-small-en-v1.5", ...extra });

/** Asserts a tei-manager style error body with this status and code. */
function expectError(res: { status: number; body: unknown }, status: number, code: string, field?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  const body = ErrorSchema.parse(res.body);
  expect(body.code).toBe(code);
  expect(Date.parse(body.timestamp)).not.toBeNaN();
  if (field !== undefined) expect(body.field).toBe(field);
}

describe("tei-manager's routes", () => {
  it("GET /health answers liveness without a token", async () => {
    const res = await api.rest("GET", "/health", undefined, { token: null });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("healthy");
    expect(Date.parse(res.body.timestamp)).not.toBeNaN();
  });

  it("POST /instances creates with 201 and tei-manager's response fields plus the fleet's", async () => {
    const res = await api.rest(
      "POST",
      "/instances",
      spec("created", {
        port: 8080,
        max_batch_tokens: 16384,
        max_concurrent_requests: 512,
        pooling: "mean",
        prometheus_port: 9100,
        extra_args: ["--dtype", "float16"],
      }),
    );
    expect(res.status).toBe(201);
    const view = InstanceViewSchema.parse(res.body);
    expect(view).toMatchObject({
      name: "created",
      model_id: "BAAI/bge-small-en-v1.5",
      port: 8080,
      prometheus_port: 9100,
      status: "pending",
      restarts: 0,
      health_check_failures: 0,
      pid: null,
      revision: 1,
      desired_state: "running",
      replicas: [],
      max_batch_tokens: 16384,
      pooling: "mean",
      extra_args: ["--dtype", "float16"],
    });
    expect(Date.parse(view.created_at!)).toBeGreaterThan(Date.now() - 60_000);
    expect(res.headers.get("etag")).toBe('"1"');
    expect(res.headers.get("location")).toBe("/instances/created");
    expect(view.spec).toMatchObject({ name: "created", port: 8080, extra_args: ["--dtype", "float16"] });
  });

  it("POST /instances with a taken name is 409 INSTANCE_EXISTS", async () => {
    await api.rest("POST", "/instances", spec("dup"));
    expectError(await api.rest("POST", "/instances", spec("dup", { model_id: "other/model" })), 409, "INSTANCE_EXISTS", "name");
  });

  it("GET /instances lists instances in creation order; GET /instances/:name returns one", async () => {
    await api.rest("POST", "/instances", spec("listed-a"));
    await api.rest("POST", "/instances", spec("listed-b"));
    const list = await api.rest("GET", "/instances");
    expect(list.status).toBe(200);
    const names = (list.body as { name: string }[]).map((i) => i.name);
    expect(names.indexOf("listed-a")).toBeLessThan(names.indexOf("listed-b"));
    for (const item of list.body) InstanceViewSchema.parse(item);
    const one = await api.rest("GET", "/instances/listed-b");
    expect(one.status).toBe(200);
    expect(one.body.name).toBe("listed-b");
    expectError(await api.rest("GET", "/instances/nope"), 404, "INSTANCE_NOT_FOUND");
    // A name that could never have been created is simply not found.
    expectError(await api.rest("GET", "/instances/Not_A_Name"), 404, "INSTANCE_NOT_FOUND");
    expectError(await api.rest("DELETE", "/instances/a%2Fb"), 404, "INSTANCE_NOT_FOUND");
  });

  it("DELETE /instances/:name answers 204, then the instance is gone (404) and deleting again is 404", async () => {
    await api.rest("POST", "/instances", spec("doomed"));
    const res = await api.rest("DELETE", "/instances/doomed");
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
    expectError(await api.rest("GET", "/instances/doomed"), 404, "INSTANCE_NOT_FOUND");
    expectError(await api.rest("DELETE", "/instances/doomed"), 404, "INSTANCE_NOT_FOUND");
  });

  it("POST stop/start/restart answer 200 with the instance; stop and start change the desired state", async () => {
    await api.rest("POST", "/instances", spec("cycled"));
    const stopped = await api.rest("POST", "/instances/cycled/stop");
    expect(stopped.status).toBe(200);
    expect(InstanceViewSchema.parse(stopped.body)).toMatchObject({ desired_state: "stopped", status: "stopped", revision: 2 });
    // Stopping a stopped instance is idempotent: no new revision.
    expect((await api.rest("POST", "/instances/cycled/stop")).body.revision).toBe(2);
    const started = await api.rest("POST", "/instances/cycled/start", undefined, { headers: { "content-type": "application/json" } });
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ desired_state: "running", revision: 3 });
    const restarted = await api.rest("POST", "/instances/cycled/restart");
    expect(restarted.status).toBe(200);
    expect(restarted.body.name).toBe("cycled");
    for (const action of ["start", "stop", "restart"]) expectError(await api.rest("POST", `/instances/ghost/${action}`), 404, "INSTANCE_NOT_FOUND");
  });

  it("GET /metrics serves tei-manager's five metric names and the fleet's gauges, without a token", async () => {
    const res = await api.rest("GET", "/metrics", undefined, { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = String(res.body);
    for (const name of [
      "tei_manager_instances_created_total",
      "tei_manager_instances_deleted_total",
      "tei_manager_instances_count",
      "tei_manager_health_check_failures_total",
      "tei_manager_instance_restarts_total",
      "tei_fleet_nodes",
      "tei_fleet_gpus",
      "tei_fleet_instances",
      "tei_fleet_api_request_duration_seconds",
    ])
      expect(text).toContain(`# TYPE ${name}`);
    expect(text).toMatch(/tei_manager_instances_created_total\{instance="created",model="BAAI\/bge-small-en-v1.5"\} 1/);
    expect(text).toMatch(/tei_manager_instances_deleted_total\{instance="doomed"\} 1/);
    const count = Number(/^tei_manager_instances_count (\d+)/m.exec(text)?.[1]);
    expect(count).toBe((await api.rest("GET", "/instances")).body.length);
    expect(text).toMatch(/tei_manager_instance_restarts_total\{instance="created"\} 0/);
    expect(text).toMatch(/tei_fleet_instances\{status="pending"\} \d+/);
  });
});

describe("changing an instance", () => {
  it("PATCH changes the spec and bumps the revision; null resets a field; an unchanged spec keeps it", async () => {
    await api.rest("POST", "/instances", spec("patched", { port: 8081, max_batch_tokens: 1024 }));
    const res = await api.rest("PATCH", "/instances/patched", { max_batch_tokens: 2048, port: null });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ max_batch_tokens: 2048, revision: 2, port: null });
    expect(res.headers.get("etag")).toBe('"2"');
    const same = await api.rest("PATCH", "/instances/patched", { max_batch_tokens: 2048 });
    expect(same.body.revision).toBe(2);
    expectError(await api.rest("PATCH", "/instances/patched", { name: "renamed" }), 400, "VALIDATION_ERROR", "name");
    expectError(await api.rest("PATCH", "/instances/ghost", { max_batch_tokens: 1 }), 404, "INSTANCE_NOT_FOUND");
  });

  it("If-Match with a stale revision is 412 PRECONDITION_FAILED; the current one (quoted or not) succeeds", async () => {
    await api.rest("POST", "/instances", spec("guarded"));
    const ok = await api.rest("PATCH", "/instances/guarded", { max_batch_tokens: 4096 }, { headers: { "if-match": '"1"' } });
    expect(ok.status).toBe(200);
    expect(ok.body.revision).toBe(2);
    expectError(
      await api.rest("PATCH", "/instances/guarded", { max_batch_tokens: 8192 }, { headers: { "if-match": '"1"' } }),
      412,
      "PRECONDITION_FAILED",
      "If-Match",
    );
    expectError(await api.rest("POST", "/instances/guarded/stop", undefined, { headers: { "if-match": "1" } }), 412, "PRECONDITION_FAILED", "If-Match");
    expectError(await api.rest("DELETE", "/instances/guarded", undefined, { headers: { "if-match": "1" } }), 412, "PRECONDITION_FAILED", "If-Match");
    expectError(
      await api.rest("PATCH", "/instances/guarded", { max_batch_tokens: 1 }, { headers: { "if-match": "yesterday" } }),
      400,
      "VALIDATION_ERROR",
      "If-Match",
    );
    expect((await api.rest("POST", "/instances/guarded/stop", undefined, { headers: { "if-match": "2" } })).status).toBe(200);
    expect((await api.rest("DELETE", "/instances/guarded", undefined, { headers: { "if-match": '"3"' } })).status).toBe(204);
  });
});

describe("what the testers asked for", () => {
  it("GET /instances/:name/health has seed 001's shape", async () => {
    await api.rest("POST", "/instances", spec("probed"));
    const res = await api.rest("GET", "/instances/probed/health");
    expect(res.status).toBe(200);
    expect(InstanceHealthSchema.parse(res.body)).toMatchObject({ instance: "probed", healthy: false, consecutive_failures: 0, uptime_seconds: 0 });
    expect(res.body.error).toBeTruthy();
    expectError(await api.rest("GET", "/instances/ghost/health"), 404, "INSTANCE_NOT_FOUND");
  });

  it("GET /instances/:name/info has seed 001's shape and says why metrics are missing", async () => {
    await api.rest("POST", "/instances", spec("informed", { max_batch_tokens: 512, pooling: "cls" }));
    const res = await api.rest("GET", "/instances/informed/info");
    expect(res.status).toBe(200);
    const info = InstanceInfoSchema.parse(res.body);
    expect(info.config).toMatchObject({ max_batch_tokens: 512, pooling: "cls", max_concurrent_requests: null });
    expect(info.health.healthy).toBe(false);
    expect(info.model).toBeNull();
    expect(info.metrics).toBeNull();
    expect(info.metrics_error).toBe("no replica is running");
    expectError(await api.rest("GET", "/instances/ghost/info"), 404, "INSTANCE_NOT_FOUND");
  });

  it("GET /health/all reports every instance; pending ones are unhealthy, stopped ones only counted as stopped", async () => {
    const res = await api.rest("GET", "/health/all");
    expect(res.status).toBe(200);
    const all = FleetHealthSchema.parse(res.body);
    const list = (await api.rest("GET", "/instances")).body as { name: string; desired_state: string }[];
    expect(all.total_instances).toBe(list.length);
    expect(all.stopped_count).toBe(list.filter((i) => i.desired_state === "stopped").length);
    expect(all.healthy_count).toBe(0);
    expect(all.unhealthy_count).toBe(all.total_instances - all.stopped_count);
    expect(all.overall_status).toBe("down");
  });

  it("GET /instances/:name/logs of an instance not on any node says so; a bad tail is 400", async () => {
    await api.rest("POST", "/instances", spec("quiet"));
    expectError(await api.rest("GET", "/instances/quiet/logs?tail=5"), 400, "INVALID_INSTANCE_STATE");
    expectError(await api.rest("GET", "/instances/quiet/logs?tail=abc"), 400, "VALIDATION_ERROR", "tail");
    expectError(await api.rest("GET", "/instances/quiet/logs?tail=0"), 400, "VALIDATION_ERROR", "tail");
    expectError(await api.rest("GET", "/instances/ghost/logs"), 404, "INSTANCE_NOT_FOUND");
  });
});

describe("events", () => {
  it("GET /events pages through created, updated, started, stopped and deleted with a cursor", async () => {
    await api.rest("POST", "/instances", spec("evented"));
    await api.rest("PATCH", "/instances/evented", { max_batch_tokens: 100 });
    await api.rest("POST", "/instances/evented/stop");
    await api.rest("POST", "/instances/evented/start");
    await api.rest("DELETE", "/instances/evented");
    const kinds: string[] = [];
    let after = "";
    for (let page = 0; page < 500; page++) {
      const res = await api.rest("GET", `/events?limit=7&after=${after}`);
      expect(res.status).toBe(200);
      const body = EventPageSchema.parse(res.body);
      // The scheduler appends its own kinds (instance.pending, ...) to the same stream.
      const apiKinds = ["instance.created", "instance.updated", "instance.stopped", "instance.started", "instance.deleted"];
      kinds.push(...body.events.filter((e) => e.instance === "evented" && apiKinds.includes(e.kind)).map((e) => e.kind));
      if (body.events.length === 0) {
        expect(body.next_cursor).toBe(after);
        break;
      }
      expect(body.events.length).toBeLessThanOrEqual(7);
      after = body.next_cursor;
    }
    // The scheduler also reports instance.stopped when a replica's process stops, so the API's
    // events must appear in this order, possibly with the scheduler's in between.
    const want = ["instance.created", "instance.updated", "instance.stopped", "instance.started", "instance.deleted"];
    let next = 0;
    for (const kind of kinds) if (kind === want[next]) next++;
    expect(next, `events seen: ${kinds.join(", ")}`).toBe(want.length);
  });

  it("rejects a malformed cursor or limit with 400 naming the parameter", async () => {
    expectError(await api.rest("GET", "/events?after=tomorrow"), 400, "VALIDATION_ERROR", "after");
    expectError(await api.rest("GET", "/events?limit=0"), 400, "VALIDATION_ERROR", "limit");
    expectError(await api.rest("GET", "/events?limit=5000"), 400, "VALIDATION_ERROR", "limit");
  });
});

describe("validation", () => {
  const cases: [string, Record<string, unknown>, string, string][] = [
    ["an upper-case name", spec("BigName"), "INVALID_INSTANCE_NAME", "name"],
    ["a name with a path separator", spec("a/b"), "INVALID_INSTANCE_NAME", "name"],
    ["a name with a backslash", spec("a\\b"), "INVALID_INSTANCE_NAME", "name"],
    ["a 64-character name", spec("a".repeat(64)), "INVALID_INSTANCE_NAME", "name"],
    ["a missing model_id", { name: "x" }, "MISSING_FIELD", "model_id"],
    ["a model_id that is a flag", spec("x", { model_id: "--port" }), "VALIDATION_ERROR", "model_id"],
    ["a privileged port", spec("x", { port: 80 }), "INVALID_PORT", "port"],
    ["a port above 65535", spec("x", { port: 70000 }), "INVALID_PORT", "port"],
    ["a port as a string", spec("x", { port: "8080" }), "INVALID_PORT", "port"],
    ["a fractional prometheus_port", spec("x", { prometheus_port: 9100.5 }), "INVALID_PORT", "prometheus_port"],
    ["the same port twice", spec("x", { port: 9100, prometheus_port: 9100 }), "PORT_CONFLICT", "prometheus_port"],
    ["a negative gpu_id", spec("x", { gpu_id: -1 }), "INVALID_GPU_ID", "gpu_id"],
    ["an unknown pooling", spec("x", { pooling: "max" }), "VALIDATION_ERROR", "pooling"],
    ["an unknown field", spec("x", { gpu: 0 }), "VALIDATION_ERROR", "gpu"],
    ["extra_args that is not a list", spec("x", { extra_args: "--dtype float16" }), "VALIDATION_ERROR", "extra_args"],
    ["extra_args setting a flag twice", spec("x", { extra_args: ["--dtype", "float16", "--dtype=float32"] }), "VALIDATION_ERROR", "extra_args"],
  ];
  for (const [what, body, code, field] of cases) {
    it(`refuses ${what} with 400 ${code} naming '${field}'`, async () => {
      const res = await api.rest("POST", "/instances", body);
      expectError(res, code === "PORT_CONFLICT" ? 409 : 400, code, field);
    });
  }

  const managed: [string, string[]][] = [
    ["--model-id", ["--model-id", "evil/model"]],
    ["--model-id", ["--model-id=evil/model"]],
    ["--port", ["--port", "9999"]],
    ["--port", ["--port=9999"]],
    ["--port", ["-p", "9999"]],
    ["--prometheus-port", ["--prometheus-port", "0"]],
    ["--prometheus-port", ["--prometheus-port=9101"]],
    ["--hostname", ["--hostname", "0.0.0.0"]],
    ["--hostname", ["--hostname=::"]],
    ["--max-batch-tokens", ["--max-batch-tokens", "1"]],
  ];
  for (const [flag, args] of managed) {
    it(`refuses extra_args ${JSON.stringify(args)} with 400 MANAGED_FLAG naming ${flag}`, async () => {
      const res = await api.rest("POST", "/instances", spec("flagged", { extra_args: ["--dtype", "float16", ...args] }));
      expectError(res, 400, "MANAGED_FLAG", "extra_args");
      expect(res.body.error).toContain(flag);
    });
  }

  it("refuses creates beyond the maximum number of instances with 422 MAX_INSTANCES_REACHED", async () => {
    const small = await startApi({ maxInstances: 2 });
    try {
      for (const name of ["first", "second"]) expect((await small.rest("POST", "/instances", spec(name))).status).toBe(201);
      expectError(await small.rest("POST", "/instances", spec("one-too-many")), 422, "MAX_INSTANCES_REACHED");
      expect((await small.rest("GET", "/instances/one-too-many")).status).toBe(404);
    } finally {
      await small.close();
    }
  });
});

describe("OpenAPI", () => {
  it("serves /openapi.json generated from the route schemas and a docs page, without a token", async () => {
    const doc = await api.rest("GET", "/openapi.json", undefined, { token: null });
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe("3.1.0");
    const paths = Object.keys(doc.body.paths);
    for (const p of [
      "/health",
      "/healthz",
      "/readyz",
      "/health/all",
      "/metrics",
      "/events",
      "/instances",
      "/instances/{name}",
      "/instances/{name}/start",
      "/instances/{name}/stop",
      "/instances/{name}/restart",
      "/instances/{name}/health",
      "/instances/{name}/info",
      "/instances/{name}/logs",
    ]) {
      expect(paths).toContain(p);
    }
    expect(paths.some((p) => p.startsWith("/tei_fleet"))).toBe(false);
    const create = doc.body.paths["/instances"].post;
    expect(Object.keys(create.requestBody.content["application/json"].schema.properties)).toEqual(
      expect.arrayContaining(["name", "model_id", "port", "max_batch_tokens", "max_concurrent_requests", "pooling", "gpu_id", "prometheus_port", "extra_args"]),
    );
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(["201", "400", "409", "422"]));
    const docs = await fetch(`${api.url}/docs`, { redirect: "follow" });
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain("<html");
  });
});
