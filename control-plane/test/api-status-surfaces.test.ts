import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { instanceStatusFromProto } from "@tei-fleet/core";
import { InstanceService, InstanceStatus } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, type ApiFixture, bearer, startApi } from "./api-fixtures.ts";

// An instance's status is typed on both surfaces: REST keeps tei-manager's lowercase words,
// Connect carries tei_fleet.v1.InstanceStatus, and core maps one to the other.

let api: ApiFixture;
let client: Client<typeof InstanceService>;
beforeAll(async () => {
  api = await startApi();
  client = createClient(InstanceService, createConnectTransport({ baseUrl: api.url, httpVersion: "1.1", interceptors: [bearer(ADMIN)] }));
});
afterAll(async () => {
  await api?.close();
});

describe("an instance's status over REST and over Connect", () => {
  it("is the same status: a word over REST, the enum over Connect", async () => {
    expect((await api.rest("POST", "/instances", { name: "typed", model_id: "m" })).status).toBe(201);
    for (const [action, word, value] of [
      [undefined, "pending", InstanceStatus.PENDING],
      ["stop", "stopped", InstanceStatus.STOPPED],
    ] as const) {
      if (action) expect((await api.rest("POST", `/instances/typed/${action}`)).status).toBe(200);
      const rest = (await api.rest("GET", "/instances/typed")).body;
      const connect = (await client.getInstance({ name: "typed" })).instance!;
      expect(rest.status).toBe(word);
      expect(connect.status).toBe(value);
      expect(instanceStatusFromProto(connect.status)).toBe(rest.status);
    }
  });

  it("is the enum's name in Connect's JSON, not a free string", async () => {
    expect((await api.rest("POST", "/instances", { name: "typed-json", model_id: "m" })).status).toBe(201);
    const res = await fetch(`${api.url}/tei_fleet.v1.InstanceService/GetInstance`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({ name: "typed-json" }),
    });
    expect(res.status).toBe(200);
    // The enum under its JSON name "phase"; for one release "status" keeps the previous release's
    // word for its clients (instance.proto's deprecated legacy_status).
    const json = (await res.json()) as { instance: { phase: string; status: string } };
    expect(json.instance.phase).toBe("INSTANCE_STATUS_PENDING");
    expect(json.instance.status).toBe("pending");
  });
});
