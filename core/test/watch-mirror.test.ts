import { create } from "@bufbuild/protobuf";
import { RouteSchema, UnreadyInstanceSchema } from "@tei-fleet/proto/fleet/v1";
import { describe, expect, it } from "vitest";
import { deltaEvent, diffEntries, keepaliveEvent, snapshotEvent, WatchGapError, WatchMirror, watchEntry, watchKey } from "../src/watch/index.ts";

const route = (id: string, address = "10.0.0.1:1") =>
  watchEntry({ case: "route", value: create(RouteSchema, { assignmentId: id, instanceName: id.split("-")[0], address }) });
const unready = (name: string, reason: string) => watchEntry({ case: "unreadyInstance", value: create(UnreadyInstanceSchema, { instanceName: name, reason }) });

describe("WatchMirror", () => {
  it("takes a snapshot, then deltas that start at its version, reporting what each changed", () => {
    const m = new WatchMirror();
    expect(m.position()).toBeUndefined();
    m.apply(snapshotEvent("e1", 5n, [route("a-0"), unready("b", "starting")]));
    expect(m.position()).toEqual({ epoch: "e1", version: 5n });
    const applied = m.apply(deltaEvent(5n, 7n, [route("b-0")], [watchKey("unreadyInstance", "b"), watchKey("route", "gone")]));
    expect(applied.kind === "delta" && applied.changes.map((c) => `${c.collection}:${c.key}:${c.before ? "had" : "new"}:${c.after ? "has" : "gone"}`)).toEqual([
      "unreadyInstance:b:had:gone",
      "route:b-0:new:has",
    ]);
    expect([...m.keys("route")].sort()).toEqual(["a-0", "b-0"]);
    expect(m.size("unreadyInstance")).toBe(0);
    expect(m.version).toBe(7n);
    expect(m.apply(keepaliveEvent("e1", 7n)).kind).toBe("keepalive");
  });

  it("refuses a delta from another version, and a keepalive of another epoch or version, changing nothing", () => {
    const m = new WatchMirror();
    expect(() => m.apply(deltaEvent(0n, 1n, [route("a-0")], []))).toThrow(WatchGapError);
    m.apply(snapshotEvent("e1", 5n, [route("a-0")]));
    expect(() => m.apply(deltaEvent(6n, 7n, [route("b-0")], []))).toThrow(WatchGapError);
    expect(() => m.apply(keepaliveEvent("e2", 5n))).toThrow(WatchGapError);
    expect(() => m.apply(keepaliveEvent("e1", 9n))).toThrow(WatchGapError);
    expect(m.position()).toEqual({ epoch: "e1", version: 5n });
    expect([...m.keys("route")]).toEqual(["a-0"]);
  });

  it("diffs its content against a full list as the delta between them", () => {
    const m = new WatchMirror();
    m.apply(snapshotEvent("e1", 1n, [route("a-0"), route("b-0"), unready("c", "starting")]));
    const diff = diffEntries(m, [route("a-0"), route("b-0", "10.0.0.2:1"), unready("c", "crash_loop")]);
    expect(
      diff.upserted.map((e) => (e.value.case === "route" ? e.value.value.address : e.value.case === "unreadyInstance" ? e.value.value.reason : undefined)),
    ).toEqual(["10.0.0.2:1", "crash_loop"]);
    expect(diffEntries(m, [route("a-0")]).removed.map((k) => `${k.key.case}:${k.key.value}`)).toEqual(["route:b-0", "unreadyInstance:c"]);
  });
});
