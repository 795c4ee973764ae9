import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { findExtraArgsProblem } from "@tei-fleet/core";
import { InstanceSchema, ReplicaSchema } from "@tei-fleet/proto/fleet/v1";
import { describe, expect, it } from "vitest";
import { fleetHealth, overallStatus } from "../src/instances/instance-health.ts";
import { aggregateStatus } from "../src/instances/instance-status.ts";
import { instanceView } from "../src/instances/instance-view.ts";
import { parseTeiMetrics } from "../src/instances/tei-metrics.ts";

const instance = (desiredState = "running", replicas?: number) =>
  create(InstanceSchema, { spec: { name: "i", modelId: "m", desiredState, replicas }, revision: 3n, createdAtMs: 1_000n });
const replica = (init: MessageInitShape<typeof ReplicaSchema>) =>
  create(ReplicaSchema, { assignmentId: `i-${init.index ?? 0}-r${init.revision ?? 3}`, revision: 3n, node: "n1", ...init });

describe("aggregate instance status", () => {
  it("no replica yet: pending, waiting for placement", () => {
    expect(aggregateStatus(instance(), [])).toEqual({ status: "pending", reason: "waiting for placement", healthy: false });
  });

  it("every replica running: running and healthy", () => {
    const r = [replica({ index: 0, status: "running" }), replica({ index: 1, status: "running" })];
    expect(aggregateStatus(instance("running", 2), r)).toMatchObject({ status: "running", healthy: true });
  });

  it("a crash-looping or failed replica shows, with its reason", () => {
    const r = [replica({ index: 0, status: "running" }), replica({ index: 1, status: "crash_loop", reason: "exited 5 times in 60 s" })];
    expect(aggregateStatus(instance("running", 2), r)).toEqual({ status: "crash_loop", reason: "exited 5 times in 60 s", healthy: false });
    expect(aggregateStatus(instance(), [replica({ status: "failed", reason: "TEI exited with code 1" })]).status).toBe("failed");
  });

  it("a new revision starting while the old one serves: starting, but healthy (a spec change loses no traffic)", () => {
    const r = [replica({ index: 0, revision: 2n, status: "running" }), replica({ index: 0, revision: 3n, status: "starting" })];
    expect(aggregateStatus(instance(), r)).toMatchObject({ status: "starting", healthy: true });
  });

  it("starting with nothing serving is not healthy; unplaced replicas are pending with the scheduler's reason", () => {
    expect(aggregateStatus(instance(), [replica({ status: "starting" })])).toMatchObject({ status: "starting", healthy: false });
    const pending = [replica({ node: "", status: "pending", reason: "insufficient GPU memory on 0/3 eligible nodes" })];
    expect(aggregateStatus(instance(), pending)).toEqual({ status: "pending", reason: "insufficient GPU memory on 0/3 eligible nodes", healthy: false });
  });

  it("some replicas running, others still pending: running with a reason", () => {
    const r = [replica({ index: 0, status: "running" }), replica({ index: 1, node: "", status: "pending", reason: "no GPU free" })];
    expect(aggregateStatus(instance("running", 2), r)).toEqual({ status: "running", reason: "1 of 2 replicas running: no GPU free", healthy: true });
  });

  it("desired stopped: stopping while a replica is active, then stopped", () => {
    expect(aggregateStatus(instance("stopped"), [replica({ status: "running" })]).status).toBe("stopping");
    expect(aggregateStatus(instance("stopped"), [replica({ status: "stopped" })]).status).toBe("stopped");
    expect(aggregateStatus(instance("stopped"), [replica({ node: "", status: "pending" })]).status).toBe("stopped");
    expect(aggregateStatus(instance("stopped"), []).status).toBe("stopped");
  });
});

describe("tei-manager fields of a multi-replica instance", () => {
  it("sum restarts and failures, take pid/port/node from the first running replica", () => {
    const r = [
      replica({ index: 0, status: "starting", restarts: 2, healthCheckFailures: 1, port: 20000 }),
      replica({
        index: 1,
        status: "running",
        restarts: 1,
        pid: 42,
        port: 20002,
        address: "10.0.0.2:20002",
        gpuIds: [1],
        startedAtMs: 1_000n,
        lastHealthCheckMs: 5_000n,
      }),
    ];
    const view = instanceView(instance("running", 2), r, 11_000);
    expect(view).toMatchObject({ restarts: 3, health_check_failures: 1, pid: 42, port: 20002, address: "10.0.0.2:20002", gpu_id: 1, uptime_secs: 10 });
    expect(view.last_health_check).toBe(new Date(5_000).toISOString());
  });
});

describe("fleet overall status", () => {
  it("healthy when all are healthy (or nothing is meant to run), down when none, critical above half, degraded otherwise", () => {
    expect(overallStatus(0, 0)).toBe("healthy");
    expect(overallStatus(3, 0)).toBe("healthy");
    expect(overallStatus(0, 3)).toBe("down");
    expect(overallStatus(1, 2)).toBe("critical");
    expect(overallStatus(2, 2)).toBe("degraded");
    expect(overallStatus(2, 1)).toBe("degraded");
  });

  it("does not count instances stopped on purpose", () => {
    const all = fleetHealth([
      { instance: instance(), replicas: [replica({ status: "running" })] },
      { instance: instance("stopped"), replicas: [] },
    ]);
    expect(all).toMatchObject({ total_instances: 2, healthy_count: 1, unhealthy_count: 0, stopped_count: 1, overall_status: "healthy" });
  });
});

describe("extra_args", () => {
  it("finds managed flags in every spelling and passes ordinary flags", () => {
    expect(findExtraArgsProblem(["--dtype", "float16", "--auto-truncate", "false", "--cors-allow-origin", "a", "--cors-allow-origin", "b"])).toBeUndefined();
    expect(findExtraArgsProblem(["-p8080"])?.flag).toBe("--port");
    expect(findExtraArgsProblem(["--hostname=::"])?.flag).toBe("--hostname");
    // A value that looks like a flag only after its flag is still the value's own business.
    expect(findExtraArgsProblem(["--default-prompt", "query: "])).toBeUndefined();
  });
});

describe("TEI metrics", () => {
  it("sums TEI's counters over label sets (no _total suffix) and the request duration histogram", () => {
    const text = [
      'te_request_count{method="single"} 10',
      'te_request_count{method="batch"} 5',
      'te_request_success{method="single"} 9',
      'te_request_failure{err="validation"} 1',
      "te_request_duration_sum 0.3",
      "te_request_duration_count 15",
      "# HELP ignored",
      'te_request_duration_bucket{le="0.1"} 15',
    ].join("\n");
    expect(parseTeiMetrics(text)).toEqual({ count: 15, success: 9, failure: 1, durationSum: 0.3, durationCount: 15 });
  });
});
