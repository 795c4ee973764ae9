import { create } from "@bufbuild/protobuf";
import { ReplicaSchema } from "@tei-fleet/proto/fleet/v1";
import { describe, expect, it } from "vitest";
import { isInstanceStatus, statusOf } from "../src/instance-status.ts";

// Replica records keep their status as a word (a proto string); statusOf reads it as core's
// union, so the control plane compares typed values and a misspelt status does not compile.

describe("a record's status word, typed", () => {
  it("is the union's member for a known word, undefined for an unknown word or no record", () => {
    expect(statusOf(create(ReplicaSchema, { status: "crash_loop" }))).toBe("crash_loop");
    expect(statusOf(create(ReplicaSchema, { status: "warming" }))).toBeUndefined();
    expect(statusOf({})).toBeUndefined();
    expect(statusOf(undefined)).toBeUndefined();
    expect(isInstanceStatus("unreadable")).toBe(true);
    expect(isInstanceStatus("Running")).toBe(false);
  });

  it("refuses a misspelt status at compile time (tsc checks this file)", () => {
    const replica = create(ReplicaSchema, { status: "running" });
    // @ts-expect-error "runing" is no InstanceStatus: the comparison has no overlap.
    expect(statusOf(replica) === "runing").toBe(false);
    // The raw word compares with anything, which is why the control plane no longer does.
    expect(replica.status === "runing").toBe(false);
  });
});
