import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { InstanceSchema, InstanceService, ReplicaSchema } from "@tei-fleet/proto/fleet/v1";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ApiContext } from "../src/api/api-context.ts";
import { registerInstanceService } from "../src/connect/instance-service-impl.ts";
import { fleetHealth, instanceHealth, readFleetHealth, readInstanceHealth } from "../src/instances/instance-health.ts";

// Health times are epoch milliseconds from the replicas' reports to the API's edge: Connect sends
// them as they are, REST formats them as ISO 8601 once. Nothing parses a time back from text.

const instance = (name: string, desiredState = "running") =>
  create(InstanceSchema, { spec: { name, modelId: "m", desiredState }, revision: 1n, createdAtMs: 1_000n });
const replica = (init: MessageInitShape<typeof ReplicaSchema>) => create(ReplicaSchema, { assignmentId: "i-0-r1", revision: 1n, node: "n1", ...init });

const NOW = Date.UTC(2026, 11, 3, 7, 0, 0, 123);
const CHECKED = NOW - 4_321;

describe("health times", () => {
  it("are kept as epoch ms, exactly as the replicas reported them", () => {
    const stored = { instance: instance("a"), replicas: [replica({ status: "running", lastHealthCheckMs: BigInt(CHECKED), healthCheckFailures: 2 })] };
    expect(readInstanceHealth(stored, NOW)).toMatchObject({ instance: "a", healthy: true, lastCheckMs: CHECKED, consecutiveFailures: 2 });
    expect(readInstanceHealth({ instance: instance("b"), replicas: [] }, NOW).lastCheckMs).toBeNull();
    const fleet = readFleetHealth([stored], NOW);
    expect(fleet.timestampMs).toBe(NOW);
    expect(fleet.instances[0]!.lastCheckMs).toBe(CHECKED);
  });

  it("are ISO 8601 in REST's shape, formatted from the same numbers", () => {
    const stored = { instance: instance("a"), replicas: [replica({ status: "running", lastHealthCheckMs: BigInt(CHECKED) })] };
    expect(instanceHealth(stored, NOW)).toMatchObject({ instance: "a", last_check: new Date(CHECKED).toISOString(), consecutive_failures: 0 });
    const fleet = fleetHealth([stored, { instance: instance("off", "stopped"), replicas: [] }], NOW);
    expect(fleet).toMatchObject({ timestamp: "2026-12-03T07:00:00.123Z", total_instances: 2, healthy_count: 1, stopped_count: 1, overall_status: "healthy" });
    expect(fleet.instances.map((h) => h.last_check)).toEqual([new Date(CHECKED).toISOString(), null]);
  });
});

describe("health times over Connect", () => {
  // InstanceService on a bare router, over the service's reads of these records.
  const stored = { instance: instance("a"), replicas: [replica({ status: "running", lastHealthCheckMs: BigInt(CHECKED), healthCheckFailures: 1 })] };
  const ctx = { instances: { get: async () => stored, list: async () => [stored] } } as unknown as ApiContext;
  const client = createClient(
    InstanceService,
    createRouterTransport((router) => registerInstanceService(router, ctx)),
  );
  beforeEach(() => {
    vi.useFakeTimers({ now: NOW, toFake: ["Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it("GetInstanceHealth and GetFleetHealth give REST's times to the millisecond, read from the numbers", async () => {
    const parse = vi.spyOn(Date, "parse");
    const one = (await client.getInstanceHealth({ name: "a" })).health!;
    const fleet = await client.getFleetHealth({});
    expect(parse, "no time is parsed back from text").not.toHaveBeenCalled();
    const rest = instanceHealth(stored);
    const restFleet = fleetHealth([stored]);
    expect(one.lastCheckMs).toBe(BigInt(CHECKED));
    expect(new Date(Number(one.lastCheckMs)).toISOString()).toBe(rest.last_check);
    expect(one).toMatchObject({
      instance: "a",
      healthy: rest.healthy,
      consecutiveFailures: rest.consecutive_failures,
      uptimeSeconds: BigInt(rest.uptime_seconds),
    });
    expect(fleet.timestampMs).toBe(BigInt(NOW));
    expect(new Date(Number(fleet.timestampMs)).toISOString()).toBe(restFleet.timestamp);
    expect(fleet.instances.map((h) => h.lastCheckMs)).toEqual([BigInt(CHECKED)]);
  });
});
