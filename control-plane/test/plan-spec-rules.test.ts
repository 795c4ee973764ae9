import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { InstanceService, type InstanceSpecSchema } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_CATALOGUE } from "../src/errors/error-catalogue.ts";
import { ADMIN, type ApiFixture, bearer, startApi } from "./api-fixtures.ts";

// The placement dry run holds specs to the rules a create is held to, on both surfaces: REST's
// POST /plan and Connect's Plan both read each spec with @tei-fleet/core's parse (cross-field
// rules included), and name the spec at fault within their list (`instances.0`, `specs.0`).

let api: ApiFixture;
let client: Client<typeof InstanceService>;
beforeAll(async () => {
  api = await startApi();
  client = createClient(InstanceService, createConnectTransport({ baseUrl: api.url, httpVersion: "1.1", interceptors: [bearer(ADMIN)] }));
});
afterAll(async () => {
  await api?.close();
});

async function overConnect(call: Promise<unknown>) {
  const err = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err, "Connect's Plan should have refused the spec").toBeDefined();
  return { code: err!.metadata.get("x-error-code"), field: err!.metadata.get("x-error-field"), message: err!.rawMessage };
}

const cases: {
  what: string;
  rest: Record<string, unknown>;
  proto: MessageInitShape<typeof InstanceSpecSchema>;
  code: keyof typeof ERROR_CATALOGUE;
  field: string;
}[] = [
  // Cross-field rules of core/src/spec/spec-validation.ts (specConsistencyProblem).
  {
    what: "a managed flag in extra_args",
    rest: { extra_args: ["--port", "9000"] },
    proto: { extraArgs: ["--port", "9000"] },
    code: "MANAGED_FLAG",
    field: "extra_args",
  },
  {
    what: "port equal to prometheus_port",
    rest: { port: 20000, prometheus_port: 20000 },
    proto: { port: 20000, prometheusPort: 20000 },
    code: "PORT_CONFLICT",
    field: "prometheus_port",
  },
  { what: "gpu_id with gpu_count 2", rest: { gpu_id: 0, gpu_count: 2 }, proto: { gpuId: 0, gpuCount: 2 }, code: "INVALID_GPU_ID", field: "gpu_id" },
  // A per-field rule, whose code depends on the field's name (not on its place in a list).
  { what: "a privileged port", rest: { port: 80 }, proto: { port: 80 }, code: "INVALID_PORT", field: "port" },
];

describe("a plan's specs are held to core's rules on both surfaces", () => {
  it.each(cases)("$what: the same code, field and message over REST and Connect", async ({ rest, proto, code, field }) => {
    const ok = { name: "planned", model_id: "m/m" };
    const restRes = await api.rest("POST", "/plan", { instances: [ok, { name: "bad", model_id: "m/m", ...rest }] });
    expect(restRes.status, JSON.stringify(restRes.body)).toBe(ERROR_CATALOGUE[code].status);
    expect(restRes.body).toMatchObject({ code, field: `instances.1.${field}` });
    const connect = await overConnect(
      client.plan({
        specs: [
          { name: "planned", modelId: "m/m" },
          { name: "bad", modelId: "m/m", ...proto },
        ],
      }),
    );
    expect(connect).toEqual({ code, field: `specs.1.${field}`, message: restRes.body.error });
  });

  it("accepts what a create accepts", async () => {
    const res = await api.rest("POST", "/plan", { instances: [{ name: "fine", model_id: "m/m", extra_args: ["--dtype", "float16"] }] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect((await client.plan({ specs: [{ name: "fine", modelId: "m/m", extraArgs: ["--dtype", "float16"] }] })).replicas).toHaveLength(1);
  });
});
