import { create } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AgentService, NodeSchema } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, resolveConfig, TeiCommandError, validateExtraArgs } from "../../node-agent/src/index.ts";
import { SimulatedAgent } from "../bench/simulated-agent.ts";
import { type ApiFixture, bearer, JOIN, type RestResponse, startApi, waitFor } from "./api-fixtures.ts";

// The rules the API and the node agent both apply (TEI's extra_args, node names) give the same
// verdict on both sides: what the API accepts, the agent runs; what the agent refuses, the API
// refuses up front with a 400 naming the field.

let api: ApiFixture;
let agentClient: Client<typeof AgentService>;
beforeAll(async () => {
  api = await startApi();
  agentClient = createClient(AgentService, createConnectTransport({ baseUrl: api.url, httpVersion: "1.1", interceptors: [bearer(JOIN)] }));
});
afterAll(async () => {
  await api?.close();
});

let serial = 0;
const spec = (extra: Record<string, unknown>) => ({ name: `shared-${++serial}`, model_id: "BAAI/bge-small-en-v1.5", ...extra });

function expect400(res: RestResponse, field: string, mentions?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body.field).toBe(field);
  if (mentions) expect(res.body.error).toContain(mentions);
}

/** The agent's verdict on extra_args: undefined when it would start TEI with them. */
function agentVerdict(extraArgs: string[]): string | undefined {
  try {
    validateExtraArgs(extraArgs);
    return undefined;
  } catch (error) {
    if (error instanceof TeiCommandError) return error.message;
    throw error;
  }
}

/** The agent's verdict on its --node-name: undefined when it starts. */
function agentNameVerdict(nodeName: string): string | undefined {
  try {
    resolveConfig({ controlPlane: api.url, nodeName, advertiseAddress: "127.0.0.1", teiBinary: "/bin/true" }, {});
    return undefined;
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
}

describe("extra_args: the API refuses what the agent would refuse", () => {
  it.each([["--help"], ["-h"], ["--version"], ["-V"], ["--json-output"], ["--json-output=true"]])(
    "refuses extra_args [%j] with 400 naming extra_args, as the agent does",
    async (flag) => {
      expect(agentVerdict([flag])).toBeDefined();
      const created = await api.rest("POST", "/instances", spec({ extra_args: ["--dtype", "float16", flag] }));
      expect400(created, "extra_args", flag.split("=")[0]);
      expect((await api.rest("GET", `/instances/shared-${serial}`)).status).toBe(404);
    },
  );

  it("refuses an update that adds --help to a running spec", async () => {
    const body = spec({});
    expect((await api.rest("POST", "/instances", body)).status).toBe(201);
    expect400(await api.rest("PATCH", `/instances/${body.name}`, { extra_args: ["--help"] }), "extra_args", "--help");
    expect((await api.rest("GET", `/instances/${body.name}`)).body.spec.extra_args).toEqual([]);
  });

  it.each([
    ["a newline", ["--revision", "main\n--port"]],
    ["a carriage return", ["--revision", "main\r"]],
    ["a NUL", ["--dtype", "float16\u0000"]],
    ["a tab", ["--default-prompt", "query:\t"]],
    ["an escape", ["--otlp-service-name", "te\u001bi"]],
    ["a DEL", ["--otlp-service-name", "tei\u007f"]],
  ])("refuses an extra_args item with %s in it with 400 naming extra_args, as the agent does", async (_what, extraArgs) => {
    expect(agentVerdict(extraArgs)).toMatch(/control character/);
    const res = await api.rest("POST", "/instances", spec({ extra_args: extraArgs }));
    expect400(res, "extra_args.1", "control character");
    // The message shows the character escaped, never raw.
    expect(res.body.error).not.toMatch(/[\u0000-\u001f\u007f]/);
  });

  it("accepts what the agent accepts", async () => {
    const extraArgs = ["--dtype", "float16", "--revision=main", "--cors-allow-origin", "a", "--cors-allow-origin=b", "--default-prompt", "query: "];
    expect(agentVerdict(extraArgs)).toBeUndefined();
    expect((await api.rest("POST", "/instances", spec({ extra_args: extraArgs }))).status).toBe(201);
  });
});

describe("node names: one rule for the agent, its registration and the spec's node", () => {
  it.each([["gpu_01"], ["GPU-1.rack2"]])("an agent named %s registers, and an instance pinned to it is accepted and placed there", async (name) => {
    expect(agentNameVerdict(name)).toBeUndefined();
    const agent = new SimulatedAgent(
      {
        register: (node) => agentClient.register({ node }),
        heartbeat: (request) => agentClient.heartbeat(request),
        leave: (nodeName, epoch) => agentClient.leave({ nodeName, epoch }),
      },
      { name, gpusMb: [81920] },
    );
    await agent.register();
    expect((await api.rest("GET", `/nodes/${name}`)).body).toMatchObject({ name, state: "ready" });

    const body = spec({ node: name });
    const created = await api.rest("POST", "/instances", body);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await waitFor(
      `${body.name} running on ${name}`,
      async () => {
        await agent.heartbeat();
        const view = (await api.rest("GET", `/instances/${body.name}`)).body;
        return view.status === "running" && view.node === name;
      },
      15_000,
    );
    // Names are case-sensitive: the same letters in another case are another node.
    expect((await api.rest("GET", `/nodes/${name.toLowerCase() === name ? name.toUpperCase() : name.toLowerCase()}`)).status).toBe(404);
  });

  it.each([["gpu-"], ["gpu_"], ["gpu."], ["-gpu"], ["_gpu"], [".gpu"], ["gpu 01"], ["gpu:01"], ["gpu/01"], ["gpü"], ["g".repeat(64)]])(
    "a name the agent refuses at start-up (%j) is refused by registration and by the spec's node",
    async (name) => {
      expect(agentNameVerdict(name)).toMatch(/--node-name/);
      const registered = await agentClient.register({ node: create(NodeSchema, { name, address: "127.0.0.1" }) }).catch((e: unknown) => e);
      expect(registered).toBeInstanceOf(ConnectError);
      expect((registered as ConnectError).code).toBe(Code.InvalidArgument);
      expect((registered as ConnectError).rawMessage).toContain("node name");
      expect400(await api.rest("POST", "/instances", spec({ node: name })), "node");
    },
  );
});
