import { create, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { AssignmentSchema, InstanceSpecSchema } from "@tei-fleet/proto/fleet/v1";
import { describe, expect, it } from "vitest";
import type { NodeView } from "../../control-plane/src/scheduler/node-view.ts";
import { buildAssignment } from "../../control-plane/src/scheduler/replica-records.ts";
import { type LaunchContext, planLaunch } from "../src/launch-plan.ts";

// A rolling upgrade, either order: an agent of this release gets assignments from a control plane
// of the previous one (only the six copied spec fields, no `spec`), and this control plane's
// assignments still carry those fields for agents not yet upgraded. Both launch one command line.

const ctx: LaunchContext = {
  teiBinary: "/opt/tei/text-embeddings-router",
  advertiseAddress: "10.0.0.5",
  passEnv: [],
  parentEnv: {},
  gpus: [{ index: 0, uuid: "GPU-0", name: "L4", memoryTotalMb: 24_576, memoryFreeMb: 24_576 }],
};

const spec = create(InstanceSpecSchema, {
  name: "emb",
  modelId: "BAAI/bge-small-en-v1.5",
  maxBatchTokens: 2048,
  maxConcurrentRequests: 64,
  pooling: "mean",
  extraArgs: ["--dtype", "float16"],
  startupTimeoutSecs: 600,
});
const placement = { assignmentId: "emb-0-r1", instanceName: "emb", revision: 1n, port: 20000, prometheusPort: 20001, gpuIds: [0], gpuUuids: ["GPU-0"] };

/** The Connect JSON a control plane of the previous release sends (its Assignment had no `spec`). */
const previousReleaseJson = {
  assignmentId: "emb-0-r1",
  instanceName: "emb",
  revision: "1",
  modelId: "BAAI/bge-small-en-v1.5",
  port: 20000,
  prometheusPort: 20001,
  gpuIds: [0],
  gpuUuids: ["GPU-0"],
  maxBatchTokens: 2048,
  maxConcurrentRequests: 64,
  pooling: "mean",
  extraArgs: ["--dtype", "float16"],
  startupTimeoutSecs: 600,
  desiredState: "running",
  epoch: "3",
};

describe("assignments across a rolling upgrade", () => {
  const current = planLaunch(create(AssignmentSchema, { ...placement, spec }), ctx);

  it("an assignment of the previous release (only the copied fields) launches the same TEI command line", () => {
    // As connect-es reads it off the wire: unknown fields ignored.
    const old = fromJson(AssignmentSchema, previousReleaseJson, { ignoreUnknownFields: true });
    expect(old.spec).toBeUndefined();
    expect(planLaunch(old, ctx).args).toEqual(current.args);
    // Built the old way as a message, too.
    const built = create(AssignmentSchema, { ...placement, ...previousReleaseJson, revision: 1n, epoch: 3n });
    expect(planLaunch(built, ctx)).toEqual(current);
  });

  it("the control plane's assignment carries the copied fields beside the spec, for agents of the previous release", () => {
    const node = { name: "n1", address: "10.0.0.5", epoch: "3", gpus: [{ index: 0, uuid: "GPU-0" }] } as unknown as NodeView;
    const sent = buildAssignment(spec, { id: "emb-0-r1", index: 0, revision: 1n, node, gpuIds: [0], port: 20000, prometheusPort: 20001 });
    expect(toJson(AssignmentSchema, sent)).toMatchObject({
      spec: { name: "emb", modelId: "BAAI/bge-small-en-v1.5" },
      modelId: "BAAI/bge-small-en-v1.5",
      maxBatchTokens: 2048,
      maxConcurrentRequests: 64,
      pooling: "mean",
      extraArgs: ["--dtype", "float16"],
      startupTimeoutSecs: 600,
    });
    // What an agent that does not know `spec` reads of it launches the same command line.
    const { spec: _unknownToIt, ...legacyOnly } = toJson(AssignmentSchema, sent) as Record<string, JsonValue>;
    expect(planLaunch(fromJson(AssignmentSchema, legacyOnly), ctx).args).toEqual(current.args);
  });
});
