import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { findExtraArgsProblem, flagName, type TeiPlacement } from "@tei-fleet/core";
import { InstanceSpecSchema } from "@tei-fleet/proto/fleet/v1";
import { describe, expect, it } from "vitest";
import { buildTeiArgs, TeiCommandError, validateExtraArgs } from "../src/tei-command.ts";

const base = { modelId: "BAAI/bge-small-en-v1.5", port: 20000, prometheusPort: 20001, hostname: "10.0.0.5", extraArgs: [] as string[] };

/** TEI's arguments for a spec and its placement, given as one object. */
function argsFor({ port, prometheusPort, hostname, ...spec }: MessageInitShape<typeof InstanceSpecSchema> & TeiPlacement): string[] {
  return buildTeiArgs(create(InstanceSpecSchema, spec), { port, prometheusPort, hostname });
}

function errorOf(fn: () => unknown): TeiCommandError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TeiCommandError) return error;
    throw error;
  }
  throw new Error("expected a TeiCommandError");
}

describe("TEI command line", () => {
  it("passes every managed flag exactly once, in a fixed order, with --hostname = advertise address", () => {
    expect(argsFor({ ...base, maxBatchTokens: 16384, maxConcurrentRequests: 64, pooling: "cls", extraArgs: ["--auto-truncate", "false"] })).toEqual([
      "--model-id",
      "BAAI/bge-small-en-v1.5",
      "--port",
      "20000",
      "--prometheus-port",
      "20001",
      "--hostname",
      "10.0.0.5",
      "--max-batch-tokens",
      "16384",
      "--max-concurrent-requests",
      "64",
      "--pooling",
      "cls",
      "--json-output",
      "--auto-truncate",
      "false",
    ]);
  });

  it("omits optional managed flags the assignment does not set", () => {
    expect(argsFor(base)).toEqual([
      "--model-id",
      "BAAI/bge-small-en-v1.5",
      "--port",
      "20000",
      "--prometheus-port",
      "20001",
      "--hostname",
      "10.0.0.5",
      "--json-output",
    ]);
  });

  it.each([
    [["--prometheus-port", "0"], "--prometheus-port"],
    [["--prometheus-port=9100"], "--prometheus-port"],
    [["--port", "1"], "--port"],
    [["-p", "1"], "-p"],
    [["-p8080"], "-p"],
    [["--model-id=x"], "--model-id"],
    [["--hostname", "0.0.0.0"], "--hostname"],
    [["--json-output"], "--json-output"],
    [["--max-batch-tokens=1"], "--max-batch-tokens"],
    [["--max-concurrent-requests", "1"], "--max-concurrent-requests"],
    [["--pooling", "mean"], "--pooling"],
    [["--help"], "--help"],
    [["-h"], "-h"],
    [["--version"], "--version"],
    [["-V"], "-V"],
  ])("refuses extra_args %j that set the managed flag %s, naming it", (extra, flag) => {
    const e = errorOf(() => argsFor({ ...base, extraArgs: extra }));
    expect(e.flag).toBe(flag);
    expect(e.message).toContain(flag);
  });

  it("refuses a flag repeated within extra_args in either form, but allows repeatable ones", () => {
    const e = errorOf(() => validateExtraArgs(["--dtype", "float16", "--dtype=float32"]));
    expect(e.flag).toBe("--dtype");
    expect(e.message).toMatch(/more than once/);
    expect(() => validateExtraArgs(["--cors-allow-origin", "a", "--cors-allow-origin=b"])).not.toThrow();
  });

  it("treats values (including negative numbers) as values, not flags", () => {
    expect(flagName("--revision=main")).toBe("--revision");
    expect(flagName("-5")).toBeUndefined();
    expect(flagName("-")).toBeUndefined();
    expect(flagName("value")).toBeUndefined();
    // A value that starts with "-" must use the = form (clap would read it as a flag otherwise).
    expect(() => validateExtraArgs(["--default-prompt=-p is not a flag here"])).not.toThrow();
  });

  it("refuses extra_args items holding a line break or another control character", () => {
    for (const c of ["\n", "\r", "\u0000", "\u001b"]) {
      expect(errorOf(() => argsFor({ ...base, extraArgs: ["--revision", `main${c}--port`] })).message).toMatch(/control character/);
    }
  });

  it("passes no flag that extra_args could also set: the shared rule refuses every flag the agent passes", () => {
    const args = argsFor({ ...base, maxBatchTokens: 1, maxConcurrentRequests: 1, pooling: "cls" });
    for (const flag of args.filter((a) => a.startsWith("--"))) {
      expect(findExtraArgsProblem([flag, "x"]), flag).toMatchObject({ kind: "managed", flag });
    }
  });

  it("refuses bad managed values with the flag named", () => {
    expect(errorOf(() => argsFor({ ...base, prometheusPort: 20000 })).flag).toBe("--prometheus-port");
    expect(errorOf(() => argsFor({ ...base, port: 70000 })).flag).toBe("--port");
    expect(errorOf(() => argsFor({ ...base, pooling: "max" })).flag).toBe("--pooling");
    expect(errorOf(() => argsFor({ ...base, modelId: "" })).flag).toBe("--model-id");
    expect(errorOf(() => argsFor({ ...base, modelId: "--evil" })).flag).toBe("--model-id");
  });
});
