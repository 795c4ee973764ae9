import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { InstanceService, type InstanceSpecSchema } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, type ApiFixture, bearer, startApi } from "./api-fixtures.ts";

// One spec, two surfaces: a spec REST refuses, Connect refuses with the same catalogue code,
// naming the same field with the same message, because both validate with @tei-fleet/core's
// one rule set.

let api: ApiFixture;
let client: Client<typeof InstanceService>;
beforeAll(async () => {
  api = await startApi();
  client = createClient(InstanceService, createConnectTransport({ baseUrl: api.url, httpVersion: "1.1", interceptors: [bearer(ADMIN)] }));
});
afterAll(async () => {
  await api?.close();
});

interface Verdict {
  code: string | undefined;
  field: string | undefined;
  message: string | undefined;
}

async function overConnect(call: Promise<unknown>): Promise<Verdict> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err, "the Connect call should have failed").toBeDefined();
  return { code: err!.metadata.get("x-error-code") ?? undefined, field: err!.metadata.get("x-error-field") ?? undefined, message: err!.rawMessage };
}

async function overRest(method: string, path: string, body: unknown): Promise<Verdict> {
  const res = await api.rest(method, path, body);
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  return { code: res.body.code, field: res.body.field, message: res.body.error };
}

let serial = 0;
const nextName = () => `surfaces-${++serial}`;

/** A bad spec in both shapes: REST JSON and the proto message a Connect client sends. */
interface BadSpec {
  what: string;
  rest: (name: string) => Record<string, unknown>;
  proto: (name: string) => MessageInitShape<typeof InstanceSpecSchema>;
  field: string;
}

const badCreates: BadSpec[] = [
  { what: "no model_id", rest: (name) => ({ name }), proto: (name) => ({ name }), field: "model_id" },
  { what: "no name", rest: () => ({ model_id: "m" }), proto: () => ({ modelId: "m" }), field: "name" },
  { what: "a privileged port", rest: (name) => ({ name, model_id: "m", port: 80 }), proto: (name) => ({ name, modelId: "m", port: 80 }), field: "port" },
  {
    what: "an unknown pooling",
    rest: (name) => ({ name, model_id: "m", pooling: "max" }),
    proto: (name) => ({ name, modelId: "m", pooling: "max" }),
    field: "pooling",
  },
  {
    what: "a managed flag in extra_args",
    rest: (name) => ({ name, model_id: "m", extra_args: ["--port", "9000"] }),
    proto: (name) => ({ name, modelId: "m", extraArgs: ["--port", "9000"] }),
    field: "extra_args",
  },
  {
    what: "a control character in an extra argument",
    rest: (name) => ({ name, model_id: "m", extra_args: ["--dtype", "float\u000716"] }),
    proto: (name) => ({ name, modelId: "m", extraArgs: ["--dtype", "float\u000716"] }),
    field: "extra_args.1",
  },
  {
    what: "too much GPU memory",
    rest: (name) => ({ name, model_id: "m", gpu_memory_mb: 16_777_217 }),
    proto: (name) => ({ name, modelId: "m", gpuMemoryMb: 16_777_217n }),
    field: "gpu_memory_mb",
  },
  { what: "a bad instance name", rest: () => ({ name: "Bad_Name", model_id: "m" }), proto: () => ({ name: "Bad_Name", modelId: "m" }), field: "name" },
];

describe("a bad spec gets the same error over REST and over Connect", () => {
  it.each(badCreates)("create with $what", async ({ rest, proto, field }) => {
    const name = nextName();
    const viaRest = await overRest("POST", "/instances", rest(name));
    const viaConnect = await overConnect(client.createInstance({ spec: proto(name) }));
    expect(viaRest.field).toBe(field);
    expect(viaConnect).toEqual(viaRest);
  });

  it("update with a privileged prometheus_port", async () => {
    const name = nextName();
    expect((await api.rest("POST", "/instances", { name, model_id: "m" })).status).toBe(201);
    const viaRest = await overRest("PATCH", `/instances/${name}`, { prometheus_port: 81 });
    const viaConnect = await overConnect(client.updateInstance({ name, spec: { prometheusPort: 81 } }));
    expect(viaRest.field).toBe("prometheus_port");
    expect(viaConnect).toEqual(viaRest);
  });
});
