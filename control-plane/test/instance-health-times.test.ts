import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { InstanceSchema, ReplicaSchema } from "@tei-fleet/proto/fleet/v1";
import { describe, expect, it } from "vitest";
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
