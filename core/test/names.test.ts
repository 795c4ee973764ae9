import { describe, expect, it } from "vitest";
import { instanceNameProblem, isInstanceName, isNodeName, NODE_NAME_RULE } from "../src/names.ts";

describe("node names", () => {
  it.each([["a"], ["7"], ["gpu-01"], ["gpu_01"], ["GPU-1.rack2"], ["node.example.com"], ["10.0.0.5"], ["n".repeat(63)]])("accepts %j", (name) =>
    expect(isNodeName(name)).toBe(true),
  );

  it.each([
    [""],
    ["gpu-"],
    ["gpu_"],
    ["gpu."],
    ["-gpu"],
    ["_gpu"],
    [".gpu"],
    ["."],
    [".."],
    ["gpu 01"],
    ["gpu:01"],
    ["gpu/01"],
    ["gpu{1}"],
    ["gpü"],
    ["gpu\n"],
    ["n".repeat(64)],
  ])("refuses %j", (name) => expect(isNodeName(name)).toBe(false));

  it("is case-sensitive: names are compared as written, never folded", () => {
    expect(isNodeName("GPU-1")).toBe(true);
    expect(isNodeName("gpu-1")).toBe(true);
    expect("GPU-1").not.toBe("gpu-1");
    expect(NODE_NAME_RULE).toContain("1-63");
  });
});

describe("instance names", () => {
  it.each([["a"], ["bge-small"], ["e5-large-v2"], ["a".repeat(63)]])("accepts %j", (name) => {
    expect(isInstanceName(name)).toBe(true);
    expect(instanceNameProblem(name)).toBeUndefined();
  });

  it.each([
    ["BigName", "lowercase DNS label"],
    ["bge_small", "lowercase DNS label"],
    ["-a", "lowercase DNS label"],
    ["a-", "lowercase DNS label"],
    ["", "lowercase DNS label"],
    ["a.b", "lowercase DNS label"],
    ["a/b", "path separators"],
    ["a\\b", "path separators"],
    ["a".repeat(64), "at most 63 characters (got 64)"],
  ])("refuses %j, saying why", (name, why) => {
    expect(isInstanceName(name)).toBe(false);
    expect(instanceNameProblem(name)).toContain(why);
  });
});
