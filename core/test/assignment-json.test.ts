import { create, toJsonString } from "@bufbuild/protobuf";
import { AssignmentSchema, InstanceSpecSchema } from "@tei-fleet/proto/fleet/v1";
import { describe, expect, it } from "vitest";
import { parseAssignmentJson } from "../src/index.ts";

describe("reading a stored assignment", () => {
  it("reads an assignment that carries its spec as written", () => {
    const spec = create(InstanceSpecSchema, { name: "emb", modelId: "m", maxBatchTokens: 2048, nodeSelector: { zone: "a" } });
    const assignment = create(AssignmentSchema, { assignmentId: "emb-0-r1", instanceName: "emb", port: 20000, epoch: 3n, spec });
    expect(parseAssignmentJson(toJsonString(AssignmentSchema, assignment))).toEqual(assignment);
  });

  it("gives an assignment stored before it carried the spec the spec its fields came from", () => {
    const stored = {
      assignmentId: "emb-0-r1",
      instanceName: "emb",
      revision: "1",
      modelId: "BAAI/bge-small-en-v1.5",
      port: 20000,
      prometheusPort: 20001,
      maxBatchTokens: 2048,
      pooling: "cls",
      extraArgs: ["--dtype", "float16"],
      startupTimeoutSecs: 0,
      desiredState: "running",
      epoch: "3",
    };
    const assignment = parseAssignmentJson(JSON.stringify(stored));
    expect(assignment).toMatchObject({ assignmentId: "emb-0-r1", port: 20000, epoch: 3n });
    expect(assignment.spec).toEqual(
      create(InstanceSpecSchema, { name: "emb", modelId: "BAAI/bge-small-en-v1.5", maxBatchTokens: 2048, pooling: "cls", extraArgs: ["--dtype", "float16"] }),
    );
  });
});
