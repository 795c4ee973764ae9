import { create, fromJson, toJson } from "@bufbuild/protobuf";
import { reportedPhase } from "@tei-fleet/core";
import { InstanceSchema, InstanceStatus, ReplicaSchema, ReplicaStatusSchema } from "@tei-fleet/proto/fleet/v1";
import { describe, expect, it } from "vitest";
import { replicaStatus } from "../../node-agent/src/replica-status.ts";
import { mergeReplicaStatus } from "../src/agents/replica-merge.ts";
import { toProtoInstance } from "../src/connect/instance-service-impl.ts";

// A rolling upgrade, either order: agents speak Connect JSON, where the previous release's
// ReplicaStatus had `"status": "running"` (a string, field 2) and this one's enum is field 17.
// The control plane reads the enum when set and the word otherwise; agents write both.

const record = create(ReplicaSchema, { assignmentId: "emb-0-r1", index: 0, revision: 1n, node: "n1", status: "starting", reason: "assigned" });

describe("replica statuses across a rolling upgrade", () => {
  it("a report of an agent of the previous release (only the string status) is read", () => {
    // As connect-es reads the previous release's JSON off the wire.
    const old = fromJson(ReplicaStatusSchema, { assignmentId: "emb-0-r1", status: "running", reason: "" }, { ignoreUnknownFields: true });
    expect(old.status).toBe(InstanceStatus.UNSPECIFIED);
    expect(reportedPhase(old)).toBe("running");
    expect(mergeReplicaStatus(record, old).status).toBe("running");
    // And as a message built the old way.
    expect(mergeReplicaStatus(record, create(ReplicaStatusSchema, { assignmentId: "emb-0-r1", legacyStatus: "crash_loop" })).status).toBe("crash_loop");
  });

  it("the enum wins when set; an unknown word and no status keep the recorded status", () => {
    expect(reportedPhase(create(ReplicaStatusSchema, { status: InstanceStatus.FAILED, legacyStatus: "running" }))).toBe("failed");
    expect(mergeReplicaStatus(record, create(ReplicaStatusSchema, { legacyStatus: "warming" })).status).toBe("starting");
    expect(mergeReplicaStatus(record, create(ReplicaStatusSchema, {})).status).toBe("starting");
  });

  it("an agent of this release sends the word too, under the JSON name the previous release reads", () => {
    const json = toJson(
      ReplicaStatusSchema,
      replicaStatus({ assignmentId: "emb-0-r1", status: "unhealthy", reason: "probe failed", restarts: 0, healthFailures: 3, failureLines: [] }),
    );
    expect(json).toMatchObject({ assignmentId: "emb-0-r1", status: "unhealthy", phase: "INSTANCE_STATUS_UNHEALTHY" });
  });

  it("Connect's Instance carries the word beside the enum, for clients of the previous release", () => {
    const instance = create(InstanceSchema, { spec: { name: "emb", modelId: "m", desiredState: "stopped" }, revision: 1n });
    const out = toProtoInstance({ instance, replicas: [] });
    expect(out.status).toBe(InstanceStatus.STOPPED);
    expect(toJson(InstanceSchema, out)).toMatchObject({ status: "stopped", phase: "INSTANCE_STATUS_STOPPED" });
  });
});
