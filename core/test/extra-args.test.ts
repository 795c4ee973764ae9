import { describe, expect, it } from "vitest";
import { findExtraArgsProblem } from "../src/extra-args.ts";

describe("extra_args", () => {
  it("passes ordinary flags, values that look like flags after '=', and the repeatable flag", () => {
    expect(findExtraArgsProblem([])).toBeUndefined();
    expect(
      findExtraArgsProblem([
        "--dtype",
        "float16",
        "--auto-truncate",
        "false",
        "--revision=main",
        "--default-prompt",
        "query: ",
        "--default-prompt-name=-p is a value here",
        "--cors-allow-origin",
        "a",
        "--cors-allow-origin=b",
        "--",
        "-5",
      ]),
    ).toBeUndefined();
  });

  it.each([
    [["--model-id", "x"], "--model-id", "--model-id"],
    [["--port=9999"], "--port", "--port"],
    [["-p", "9999"], "-p", "--port"],
    [["-p9999"], "-p", "--port"],
    [["--prometheus-port", "0"], "--prometheus-port", "--prometheus-port"],
    [["--hostname=::"], "--hostname", "--hostname"],
    [["--max-batch-tokens", "1"], "--max-batch-tokens", "--max-batch-tokens"],
    [["--max-concurrent-requests=1"], "--max-concurrent-requests", "--max-concurrent-requests"],
    [["--pooling", "mean"], "--pooling", "--pooling"],
    [["--json-output"], "--json-output", "--json-output"],
  ])("refuses %j: the fleet sets %s (%s) itself", (args, spelling, flag) => {
    const problem = findExtraArgsProblem(args);
    expect(problem).toMatchObject({ kind: "managed", index: 0, flag, spelling });
    expect(problem?.message).toContain(`extra_args must not contain ${spelling}`);
    expect(problem?.message).toContain(flag);
  });

  it.each([
    [["--help"], "--help"],
    [["-h"], "--help"],
    [["--version"], "--version"],
    [["-V"], "--version"],
  ])("refuses %j: it makes TEI exit instead of serving", (args, flag) => {
    expect(findExtraArgsProblem(args)).toMatchObject({ kind: "exits", flag, message: expect.stringContaining("exit instead of serving") });
  });

  it("refuses a single-value flag given twice, in any spelling", () => {
    expect(findExtraArgsProblem(["--dtype", "float16", "--dtype=float32"])).toMatchObject({
      kind: "repeated",
      index: 2,
      flag: "--dtype",
      message: expect.stringContaining("more than once"),
    });
  });

  it.each([
    ["\n", "U+000A"],
    ["\r", "U+000D"],
    ["\u0000", "U+0000"],
    ["\t", "U+0009"],
    ["\u001b", "U+001B"],
    ["\u007f", "U+007F"],
    ["\u0085", "U+0085"],
  ])("refuses an item holding the control character %j (%s), escaped in the message", (c, code) => {
    const problem = findExtraArgsProblem(["--revision", `main${c}--port`]);
    expect(problem).toMatchObject({ kind: "control-character", index: 1, flag: undefined });
    expect(problem?.message).toContain(code);
    expect(problem?.message).toContain("extra_args[1]");
    expect(problem?.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });

  it("refuses a flag and its value pasted into one item", () => {
    expect(findExtraArgsProblem(["--revision main"])).toMatchObject({
      kind: "not-one-argument",
      index: 0,
      message: expect.stringContaining('["--revision","main"]'),
    });
    // Spaces in a value are the value's own business.
    expect(findExtraArgsProblem(["--default-prompt=query: ", "--default-prompt-name", "a b"])).toBeUndefined();
  });

  it("reports the first problem in list order and quotes long items cut short", () => {
    expect(findExtraArgsProblem(["--port", "1", "--help"])?.flag).toBe("--port");
    const long = findExtraArgsProblem(["--x", `${"a".repeat(500)}\n`]);
    expect(long?.message.length).toBeLessThan(300);
  });
});
