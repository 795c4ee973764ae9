import { describe, expect, test } from "vitest";
import { errorBody, retryAfterFor, statusFor } from "../../src/gateway/error-body.ts";
import { fromGrpcStatus, GatewayError } from "../../src/gateway/gateway-error.ts";
import { RouteTableModelResolver } from "../../src/gateway/model-resolver.ts";
import { routePath } from "../../src/gateway/routes/route-table.ts";
import { GrpcStatus, RouteTable } from "../../src/index.ts";

describe("paths and their model prefixes", () => {
  test("plain paths, /m/<model>/ with slashes or percent-encoding, /i/<instance>/, longest route wins", () => {
    expect(routePath("/embed")).toMatchObject({ route: { name: "/embed" }, by: null });
    expect(routePath("/embeddings")).toMatchObject({ route: { name: "/v1/embeddings" } });
    expect(routePath("/m/BAAI/bge-small-en-v1.5/v1/embeddings")).toMatchObject({
      route: { name: "/v1/embeddings" },
      by: "model",
      name: "BAAI/bge-small-en-v1.5",
    });
    expect(routePath("/m/BAAI%2Fbge/embed")).toMatchObject({ by: "model", name: "BAAI/bge" });
    expect(routePath("/i/small/embed_sparse")).toMatchObject({ route: { name: "/embed_sparse" }, by: "instance", name: "small" });
    expect(routePath("/m/x/v2/rerank")).toMatchObject({ route: { name: "/v2/rerank" }, name: "x" });
    expect(routePath("/m//embed")).toBeNull();
    expect(routePath("/m/%zz/embed")).toBeNull();
    expect(routePath("/x/a/embed")).toBeNull();
    expect(routePath("/nope")).toBeNull();
    expect(routePath("/", "POST")).toMatchObject({ route: { name: "/invocations" } });
    expect(routePath("/", "GET")).toMatchObject({ route: { name: "/health" } });
  });
});

describe("statuses and error shapes per route family", () => {
  test("TEI's gRPC statuses map to TEI's HTTP statuses and error types", () => {
    expect(fromGrpcStatus(GrpcStatus.INVALID_ARGUMENT, "`inputs` cannot be empty")).toMatchObject({ status: 400, teiType: "Empty" });
    expect(fromGrpcStatus(GrpcStatus.INVALID_ARGUMENT, "too long")).toMatchObject({ status: 422, teiType: "Validation" });
    expect(fromGrpcStatus(GrpcStatus.RESOURCE_EXHAUSTED, "Model is overloaded")).toMatchObject({ status: 429, teiType: "Overloaded", retryAfterMs: 1000 });
    expect(fromGrpcStatus(GrpcStatus.FAILED_PRECONDITION, "CUDA out of memory")).toMatchObject({ status: 424, teiType: "Backend" });
    expect(fromGrpcStatus(GrpcStatus.NOT_FOUND, 'no instance serves model "x"')).toMatchObject({ status: 404, code: "model_not_found" });
    expect(fromGrpcStatus(GrpcStatus.UNAVAILABLE, "no ready replica")).toMatchObject({ status: 503, teiType: "Unhealthy", retryAfterMs: 1000 });
  });

  test("OpenAI's family: 422 is 400, a transient 424 is 503 with Retry-After (the SDKs retry it), a model mismatch 400", () => {
    const transient = fromGrpcStatus(GrpcStatus.FAILED_PRECONDITION, "CUDA out of memory");
    const mismatch = fromGrpcStatus(GrpcStatus.FAILED_PRECONDITION, "Model is not an embedding model");
    expect(statusFor("tei", transient)).toBe(424);
    expect(statusFor("openai", transient)).toBe(503);
    expect(retryAfterFor("openai", transient)).toBeGreaterThan(0);
    expect(statusFor("openai", mismatch)).toBe(400);
    expect(statusFor("openai", new GatewayError(422, "m", "Validation"))).toBe(400);
    expect(retryAfterFor("openai", fromGrpcStatus(GrpcStatus.RESOURCE_EXHAUSTED, ""))).toBe(1000);
    expect(retryAfterFor("openai", fromGrpcStatus(GrpcStatus.RESOURCE_EXHAUSTED, "key over its limit", 250))).toBe(250);
  });

  test("bodies: TEI's {error, error_type}; OpenAI's {error: {message, type, param, code}}; rerank's adds Cohere's message", () => {
    const e = new GatewayError(404, "no such model", "NotFound", "model", "model_not_found");
    expect(JSON.parse(errorBody("tei", e))).toEqual({ error: "no such model", error_type: "NotFound" });
    expect(JSON.parse(errorBody("openai", e))).toEqual({
      error: { message: "no such model", type: "invalid_request_error", param: "model", code: "model_not_found" },
    });
    expect(JSON.parse(errorBody("cohere", e))).toMatchObject({ message: "no such model", error: { code: "model_not_found" } });
    expect(JSON.parse(errorBody("openai", fromGrpcStatus(GrpcStatus.UNAVAILABLE, "x"))).error.type).toBe("server_error");
  });
});

describe("model names resolve against the route table", () => {
  const table = new RouteTable();
  const r = (instanceName: string, modelId: string, replica = 0) => ({
    instanceName,
    modelId,
    replica,
    node: "n",
    address: `127.0.0.1:${1000 + replica}`,
    assignmentId: `${instanceName}-${replica}`,
  });
  table.replace([r("small", "m1", 0), r("small", "m1", 1), r("big", "m2")], 1n);
  const resolver = new RouteTableModelResolver(table);

  test("a model id, then an instance name; x-tei-instance only as an instance; unknown names left to the table", () => {
    expect(resolver.resolve("m1", "any")).toMatchObject({ target: { kind: "model", model: "m1" }, modelId: "m1", replicas: 2 });
    expect(resolver.resolve("big", "any")).toMatchObject({ target: { kind: "instance", name: "big" }, modelId: "m2", replicas: 1 });
    expect(resolver.resolve("m1", "instance")).toMatchObject({ target: { kind: "instance", name: "m1" }, modelId: "" });
    expect(resolver.resolve("nope", "any")).toMatchObject({ target: { kind: "model", model: "nope" }, modelId: "" });
    expect(resolver.resolve("", "any")).toBeInstanceOf(GatewayError);
    expect(resolver.list().map((m) => m.id)).toEqual(["m1", "m2"]);
    expect(resolver.soleModel()).toBeNull();
  });

  test("follows table changes", () => {
    table.replace([r("small", "m1", 0)], 2n);
    expect(resolver.soleModel()).toMatchObject({ name: "m1", replicas: 1 });
    expect(resolver.list()).toHaveLength(1);
  });
});
