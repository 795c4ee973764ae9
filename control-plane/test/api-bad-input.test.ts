import { connect } from "node:net";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { InstanceService } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, type ApiFixture, type RestResponse, redisSnapshot, startApi } from "./api-fixtures.ts";

let api: ApiFixture;
let before: Record<string, unknown>;
beforeAll(async () => {
  // No placement worker or reconciler: nothing but this test's requests may change Redis.
  api = await startApi({ app: { bodyLimit: 64 * 1024, rpcReadMaxBytes: 256 * 1024 }, scheduler: { worker: false, reconciler: false } });
  await api.rest("POST", "/instances", { name: "existing", model_id: "m/m", port: 8123 });
  before = await redisSnapshot(api.redis, api.cp.keys.prefix);
});
afterAll(async () => {
  await api.close();
});

/** A client mistake: the right 4xx, a JSON error naming the problem, never a 500. */
function expectClientError(res: RestResponse, status: number, code: string, mentions?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get("content-type")).toContain("application/json");
  expect(res.body.code).toBe(code);
  expect(typeof res.body.error).toBe("string");
  if (mentions) expect(`${res.body.error} ${res.body.field ?? ""}`).toContain(mentions);
}

describe("bad input changes nothing and never answers 500", () => {
  it("malformed JSON is 400 INVALID_JSON", async () => {
    expectClientError(await api.rest("POST", "/instances", undefined, { raw: '{"name": "x", "model_id": ' }), 400, "INVALID_JSON", "JSON");
    expectClientError(await api.rest("PATCH", "/instances/existing", undefined, { raw: "{'single': 'quotes'}" }), 400, "INVALID_JSON");
  });

  it("a body that is not an object is 400 naming the spec", async () => {
    for (const raw of ["[]", "null", "42", '"text"']) {
      expectClientError(await api.rest("POST", "/instances", undefined, { raw }), 400, "VALIDATION_ERROR", "JSON object");
    }
    expectClientError(await api.rest("POST", "/instances"), 400, "VALIDATION_ERROR", "JSON object");
  });

  it("wrong types are 400 naming the field and the type", async () => {
    expectClientError(await api.rest("POST", "/instances", { name: 5, model_id: "m/m" }), 400, "VALIDATION_ERROR", "name");
    expectClientError(
      await api.rest("POST", "/instances", { name: "x", model_id: "m/m", max_batch_tokens: "lots" }),
      400,
      "VALIDATION_ERROR",
      "max_batch_tokens",
    );
    expectClientError(await api.rest("POST", "/instances", { name: "x", model_id: "m/m", extra_args: [1, 2] }), 400, "VALIDATION_ERROR", "extra_args.0");
    expectClientError(
      await api.rest("POST", "/instances", { name: "x", model_id: "m/m", node_selector: { gpu: 1 } }),
      400,
      "VALIDATION_ERROR",
      "node_selector.gpu",
    );
    expectClientError(await api.rest("PATCH", "/instances/existing", { replicas: true }), 400, "VALIDATION_ERROR", "replicas");
  });

  it("unknown fields are 400 naming the field", async () => {
    expectClientError(await api.rest("POST", "/instances", { name: "x", model_id: "m/m", gpu_ids: [0] }), 400, "VALIDATION_ERROR", "gpu_ids");
    expectClientError(await api.rest("PATCH", "/instances/existing", { status: "running" }), 400, "VALIDATION_ERROR", "status");
    expectClientError(
      await api.rest("POST", "/instances", undefined, {
        raw: '{"name":"x","model_id":"m/m","__proto__":{"admin":true}}',
      }),
      400,
      "VALIDATION_ERROR",
      "__proto__",
    );
  });

  it("a huge body is 413 PAYLOAD_TOO_LARGE", async () => {
    const huge = { name: "x", model_id: "m/m", extra_args: ["--dtype", "x".repeat(200 * 1024)] };
    expectClientError(await api.rest("POST", "/instances", huge), 413, "PAYLOAD_TOO_LARGE");
  });

  it("a wrong method on a known path is 405 with Allow", async () => {
    const cases: [string, string, string][] = [
      ["PUT", "/instances", "GET, HEAD, POST"],
      ["DELETE", "/instances", "GET, HEAD, POST"],
      ["POST", "/instances/existing", "DELETE, GET, HEAD, PATCH"],
      ["GET", "/instances/existing/stop", "POST"],
      ["DELETE", "/health", "GET, HEAD"],
    ];
    for (const [method, path, allow] of cases) {
      const res = await api.rest(method, path);
      expectClientError(res, 405, "METHOD_NOT_ALLOWED", method);
      expect(res.headers.get("allow")).toBe(allow);
    }
  });

  it("an unknown path is 404 NOT_FOUND as JSON", async () => {
    expectClientError(await api.rest("GET", "/instancez"), 404, "NOT_FOUND", "/instancez");
  });

  it("a non-JSON content type is 415", async () => {
    expectClientError(
      await api.rest("POST", "/instances", undefined, { raw: "name=x", headers: { "content-type": "application/x-www-form-urlencoded" } }),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    );
  });

  it("bad headers are 400 naming the header", async () => {
    expectClientError(
      await api.rest("POST", "/instances", { name: "x", model_id: "m/m" }, { headers: { "idempotency-key": "a b" } }),
      400,
      "VALIDATION_ERROR",
      "Idempotency-Key",
    );
    expectClientError(
      await api.rest("PATCH", "/instances/existing", { max_batch_tokens: 1 }, { headers: { "if-match": "W/soon" } }),
      400,
      "VALIDATION_ERROR",
      "If-Match",
    );
  });

  it("garbage on the socket is answered and dropped without harming the server", async () => {
    const reply = await new Promise<string>((resolve) => {
      const socket = connect(api.cp.port, "127.0.0.1", () => socket.write("\x16\x03\x01 not http at all\r\n\r\n"));
      let got = "";
      socket.on("data", (d) => {
        got += String(d);
      });
      socket.on("close", () => resolve(got));
      socket.on("error", () => resolve(got));
      setTimeout(() => socket.destroy(), 2000);
    });
    expect(reply === "" || reply.startsWith("HTTP/1.1 400")).toBe(true);
    expect((await api.rest("GET", "/health")).status).toBe(200);
  });

  it("Connect rejects bad input with INVALID_ARGUMENT or RESOURCE_EXHAUSTED, not INTERNAL", async () => {
    const auth: Interceptor = (next) => (req) => {
      req.header.set("authorization", `Bearer ${ADMIN}`);
      return next(req);
    };
    const client = createClient(InstanceService, createGrpcTransport({ baseUrl: api.url, interceptors: [auth] }));
    const json = createClient(InstanceService, createConnectTransport({ baseUrl: api.url, httpVersion: "1.1", interceptors: [auth] }));
    const huge = json.createInstance({ spec: { name: "x", modelId: "m/m", extraArgs: ["x".repeat(300 * 1024)] } });
    expect(ConnectError.from(await huge.catch((e) => e)).code).toBe(Code.ResourceExhausted);
    const bad = client.createInstance({ spec: { name: "x", modelId: "m/m", pooling: "max" } });
    expect(ConnectError.from(await bad.catch((e) => e)).code).toBe(Code.InvalidArgument);
    // Malformed JSON on the Connect protocol is INVALID_ARGUMENT (HTTP 400).
    const raw = await fetch(`${api.url}/tei_fleet.v1.InstanceService/CreateInstance`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN}` },
      body: '{"spec": {"name": ',
    });
    expect(raw.status).toBe(400);
    expect(((await raw.json()) as { code: string }).code).toBe("invalid_argument");
    const missing = json.updateInstance({ name: "existing", spec: { port: 5 } });
    expect(ConnectError.from(await missing.catch((e) => e)).code).toBe(Code.InvalidArgument);
  });

  it("after all of it, Redis holds exactly what it held before", async () => {
    expect(await redisSnapshot(api.redis, api.cp.keys.prefix)).toEqual(before);
  });
});
