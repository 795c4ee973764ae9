import { describe, expect, it } from "vitest";
import { INSTANCE_STATUSES, REPLICA_PHASES } from "../src/instance-status.ts";

describe("statuses", () => {
  it("lists an instance's statuses as the API documents them: pending, the replica phases, unreadable", () => {
    expect(INSTANCE_STATUSES).toEqual(["pending", "starting", "running", "unhealthy", "stopping", "stopped", "failed", "crash_loop", "unreadable"]);
    expect(INSTANCE_STATUSES).toEqual(expect.arrayContaining([...REPLICA_PHASES]));
  });
});
