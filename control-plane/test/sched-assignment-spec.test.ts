import { fromJsonString } from "@bufbuild/protobuf";
import { AssignmentSchema } from "@tei-fleet/proto/fleet/v1";
import { afterEach, describe, expect, it } from "vitest";
import { placed, type SchedFixture, schedFixture } from "./sched-fixtures.ts";

// The assignment an agent gets carries the instance's spec itself, whole and unaltered.

let f: SchedFixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

describe("an agent's assignment", () => {
  it("carries the spec as written, and keeps it intact when a restarted agent's assignments are restamped", async () => {
    f = await schedFixture();
    // A node label named like the assignment's own epoch field, which the restamp rewrites.
    const agent = await f.addNode({ name: "a", gpusMb: [81920], labels: { epoch: "1" } });
    await f.putInstance({ name: "emb", maxBatchTokens: 2048, pooling: "cls", extraArgs: ["--dtype", "float16"], nodeSelector: { epoch: "1" } });
    await f.until(async () => (await placed(f!, "emb")).length === 1 && agent.assignments.size === 1);
    const [sent] = agent.assignments.values();
    expect(sent!.spec).toMatchObject({ name: "emb", maxBatchTokens: 2048, pooling: "cls", extraArgs: ["--dtype", "float16"], nodeSelector: { epoch: "1" } });

    // The agent restarts while the node stays alive: same assignments, the new epoch.
    const before = agent.epoch;
    await agent.register();
    expect(agent.epoch).toBe(before + 1n);
    const stored = Object.values(await f.redis.hgetall(f.keys.assignments("a"))).map((json) => fromJsonString(AssignmentSchema, json));
    expect(stored).toHaveLength(1);
    expect(stored[0]!.epoch).toBe(agent.epoch);
    expect(stored[0]!.spec).toEqual(sent!.spec);
  });
});
