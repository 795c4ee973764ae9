import { create } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AgentService, NodeSchema, NodeService } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toConnectError } from "../src/connect/connect-errors.ts";
import { restError } from "../src/rest/rest-errors.ts";
import { ADMIN, type ApiFixture, bearer, JOIN, startApi } from "./api-fixtures.ts";

// Every Connect service of the control plane answers errors the way REST does: the Connect code
// of the catalogue plus the catalogue code itself in `x-error-code` (and the field at fault in
// `x-error-field`), through one mapping. Real control plane, real Redis, real Connect clients.

let api: ApiFixture;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api?.close();
});

const transport = (token: string) => createConnectTransport({ baseUrl: api.url, httpVersion: "1.1", interceptors: [bearer(token)] });
const nodeClient = (): Client<typeof NodeService> => createClient(NodeService, transport(ADMIN));
const agentClient = (): Client<typeof AgentService> => createClient(AgentService, transport(JOIN));

/** The error a call fails with, as the client sees it: Connect code, catalogue code, field, message. */
async function failure(call: Promise<unknown>) {
  const err = ConnectError.from(
    await call.then(
      () => expect.fail("the call succeeded"),
      (e: unknown) => e,
    ),
  );
  return { code: err.code, apiCode: err.metadata.get("x-error-code"), field: err.metadata.get("x-error-field"), message: err.rawMessage };
}

const node = (name: string) =>
  create(NodeSchema, {
    name,
    address: "127.0.0.3",
    agentUrl: "http://127.0.0.3:9100",
    capacity: 4,
    gpus: [{ index: 0, uuid: `GPU-${name}`, name: "H100", memoryTotalMb: 81920n, memoryFreeMb: 81000n }],
    portRangeStart: 22000,
    portRangeEnd: 22099,
  });

describe("NodeService errors over Connect", () => {
  it("an unknown node is NOT_FOUND with x-error-code NODE_NOT_FOUND, as REST's 404", async () => {
    for (const call of [
      () => nodeClient().getNode({ name: "ghost" }),
      () => nodeClient().cordonNode({ name: "ghost" }),
      () => nodeClient().drainNode({ name: "ghost" }),
      () => nodeClient().deleteNode({ name: "ghost" }),
    ]) {
      expect(await failure(call())).toEqual({ code: Code.NotFound, apiCode: "NODE_NOT_FOUND", field: "name", message: 'node "ghost" is not registered' });
    }
    const rest = await api.rest("GET", "/nodes/ghost");
    expect(rest.status).toBe(404);
    expect(rest.body).toMatchObject({ code: "NODE_NOT_FOUND", field: "name", error: 'node "ghost" is not registered' });
  });

  it("removing a node in use is FAILED_PRECONDITION with x-error-code NODE_IN_USE, as REST's 409", async () => {
    await agentClient().register({ node: node("busy-1") });
    expect(await failure(nodeClient().deleteNode({ name: "busy-1" }))).toEqual({
      code: Code.FailedPrecondition,
      apiCode: "NODE_IN_USE",
      field: null,
      message: "node busy-1 is ready and schedulable; cordon or drain it first",
    });
    const rest = await api.rest("DELETE", "/nodes/busy-1");
    expect(rest.status).toBe(409);
    expect(rest.body).toMatchObject({ code: "NODE_IN_USE" });
  });
});

describe("AgentService errors over Connect", () => {
  it("a malformed registration is INVALID_ARGUMENT with a catalogue x-error-code naming the field", async () => {
    const bad = await failure(agentClient().register({ node: create(NodeSchema, { name: "bad name!", address: "x" }) }));
    expect(bad).toMatchObject({ code: Code.InvalidArgument, apiCode: "VALIDATION_ERROR", field: "node.name" });
    expect(bad.message).toContain('node name "bad name!" is invalid');
    expect(await failure(agentClient().register({ node: create(NodeSchema, { name: "ok" }) }))).toEqual({
      code: Code.InvalidArgument,
      apiCode: "MISSING_FIELD",
      field: "node.address",
      message: "node.address is required",
    });
  });

  it("a stale epoch is FAILED_PRECONDITION with x-error-code STALE_EPOCH, for Leave and WatchAssignments alike", async () => {
    const { epoch } = await agentClient().register({ node: node("epoch-1") });
    expect(await failure(agentClient().leave({ nodeName: "epoch-1", epoch: epoch + 5n }))).toMatchObject({
      code: Code.FailedPrecondition,
      apiCode: "STALE_EPOCH",
    });
    const stream = async () => {
      for await (const _ of agentClient().watchAssignments({ nodeName: "epoch-1", epoch: epoch + 5n })) {
        /* the stream must fail before it sends anything */
      }
    };
    expect(await failure(stream())).toMatchObject({ code: Code.FailedPrecondition, apiCode: "STALE_EPOCH" });
  });
});

describe("errors connect-es builds itself", () => {
  it("a request that is not protobuf binary is INVALID_ARGUMENT with x-error-code MALFORMED_REQUEST", async () => {
    const res = await fetch(`${api.url}/tei_fleet.v1.NodeService/GetNode`, {
      method: "POST",
      headers: { "content-type": "application/proto", authorization: `Bearer ${ADMIN}` },
      body: new Uint8Array([0x0a, 0xff, 0xff]),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("x-error-code")).toBe("MALFORMED_REQUEST");
    expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
  });
});

describe("the one error mapping", () => {
  it("recognises domain errors by type, not by name: a plain Error named NodeNotFoundError is internal", () => {
    const spoofed = Object.assign(new Error('node "x" is not registered'), { name: "NodeNotFoundError" });
    const ce = toConnectError(spoofed);
    expect([ce.code, ce.metadata.get("x-error-code"), ce.rawMessage]).toEqual([Code.Internal, "INTERNAL_ERROR", "internal error"]);
    const inUse = Object.assign(new Error("in use"), { name: "NodeInUseError" });
    expect(toConnectError(inUse).metadata.get("x-error-code")).toBe("INTERNAL_ERROR");
    const rest = restError(spoofed);
    expect([rest.status, rest.code, rest.message]).toEqual([500, "INTERNAL_ERROR", "internal error"]);
  });

  it("never sends an internal error's message (it may hold a secret) on either surface", () => {
    const leaky = new Error("redis://:hunter2-secret@10.0.0.1:6379 exploded");
    expect(toConnectError(leaky).rawMessage).toBe("internal error");
    expect(JSON.stringify(restError(leaky))).not.toContain("hunter2");
    expect(restError(leaky).message).toBe("internal error");
  });

  it("every error a Connect service gets from the mapping carries a catalogue code", () => {
    for (const err of [new Error("boom"), "a string", undefined, new TypeError("x")]) {
      expect(toConnectError(err).metadata.get("x-error-code")).toBe("INTERNAL_ERROR");
    }
  });
});
