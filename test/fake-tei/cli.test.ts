import { describe, expect, it } from "vitest";
import { type CliOutcome, parseCli } from "./cli.ts";
import { spawnFakeTei } from "./launcher.ts";

/** Runs the executable to completion. */
async function run(args: string[], env: Record<string, string> = {}) {
  const proc = spawnFakeTei(args, env);
  const status = await proc.exited;
  return { ...status, stdout: proc.stdout(), stderr: proc.stderr() };
}

/** First stderr line and exit code of an in-process parse. */
function parseError(args: string[], env: Record<string, string> = {}): [number, string] {
  const outcome = parseCli(args, env) as Extract<CliOutcome, { kind: "exit" }>;
  return [outcome.code, (outcome.stderr ?? "").split("\n")[0] as string];
}

const usage = "\n\nUsage: text-embeddings-router [OPTIONS]\n\nFor more information, try '--help'.\n";

describe("text-embeddings-router command line (clap 4.5)", () => {
  it("exits 2 with clap's exact message when a value flag is given twice", async () => {
    const r = await run(["--model-id", "BAAI/bge-small-en-v1.5", "--prometheus-port", "9100", "--prometheus-port", "9101"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`error: the argument '--prometheus-port <PROMETHEUS_PORT>' cannot be used multiple times${usage}`);
  });

  it("exits 2 when --model-id is missing, and takes MODEL_ID from the environment instead", async () => {
    const [missing, fromEnv] = await Promise.all([run(["--port", "1"]), run([], { MODEL_ID: "BAAI/bge-small-en-v1.5", FAKE_TEI_EXIT_AT_START: "0" })]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`error: the following required arguments were not provided:\n  --model-id <MODEL_ID>${usage}`);
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stdout).toContain('Args { model_id: "BAA*/***-*****-**-v1.5"');
  });

  it("names every repeated flag by its VALUE_NAME, and boolean flags without one", () => {
    expect(parseError(["--model-id", "a", "--model-id", "b"])).toEqual([2, "error: the argument '--model-id <MODEL_ID>' cannot be used multiple times"]);
    expect(parseError(["--model-id", "a", "--json-output", "--json-output"])).toEqual([2, "error: the argument '--json-output' cannot be used multiple times"]);
    expect(parseError(["--model-id", "a", "-p", "1", "--port=2"])).toEqual([2, "error: the argument '--port <PORT>' cannot be used multiple times"]);
    expect(parseError(["--model-id", "a", "--auto-truncate", "--auto-truncate", "false"])).toEqual([
      2,
      "error: the argument '--auto-truncate [<AUTO_TRUNCATE>]' cannot be used multiple times",
    ]);
  });

  it("rejects unknown flags, invalid values and non-boolean env values with exit 2", () => {
    expect(parseError(["--model-id", "a", "--foo"])).toEqual([2, "error: unexpected argument '--foo' found"]);
    expect(parseError(["--model-id", "a", "--dtype", "bf16"])).toEqual([2, "error: invalid value 'bf16' for '--dtype <DTYPE>'"]);
    expect(parseError(["--model-id", "a", "--port", "http"])).toEqual([2, "error: invalid value 'http' for '--port <PORT>': invalid digit found in string"]);
    expect(parseError(["--model-id", "a", "--port", "70000"])[0]).toBe(2);
    expect(parseError(["--model-id"])).toEqual([2, "error: a value is required for '--model-id <MODEL_ID>' but none was supplied"]);
    expect(parseError(["--model-id", "a"], { JSON_OUTPUT: "1" })).toEqual([2, "error: invalid value '1' for '--json-output'"]);
    expect(parseError(["--model-id", "a", "--default-prompt", "x", "--default-prompt-name", "y"])[0]).toBe(2);
  });

  it("lets --cors-allow-origin repeat and the command line beat the environment", () => {
    const outcome = parseCli(
      ["--model-id", "a", "--cors-allow-origin", "x", "--cors-allow-origin", "y", "--max-client-batch-size", "9", "--auto-truncate", "false"],
      {
        MAX_CLIENT_BATCH_SIZE: "7",
        MAX_CONCURRENT_REQUESTS: "5",
        PORT: "",
      },
    );
    if (outcome.kind !== "run") throw new Error(outcome.stderr);
    expect(outcome.args).toMatchObject({
      corsAllowOrigin: ["x", "y"],
      maxClientBatchSize: 9,
      maxConcurrentRequests: 5,
      autoTruncate: false,
      port: 3000,
      prometheusPort: 9000,
      hostname: "0.0.0.0",
    });
  });

  it("prints the version and help with exit 0", () => {
    expect(parseCli(["--version"], {})).toEqual({ kind: "exit", code: 0, stdout: "text-embeddings-router 1.9.3\n" });
    const help = parseCli(["--model-id", "a", "-h"], {}) as Extract<CliOutcome, { kind: "exit" }>;
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("[env: PROMETHEUS_PORT=]");
  });

  it("exits 1 after TEI's download error for a model it cannot download, and logs JSON under --json-output", async () => {
    const r = await run(["--model-id", "someone/unknown-model", "--json-output", "--port", "1", "--prometheus-port", "2"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: Could not download model artifacts\n/);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ level: "INFO", target: "text_embeddings_router", filename: "router/src/main.rs" });
    expect(lines[0]?.message).toMatch(/^Args \{ model_id: /);
    expect(lines[0]?.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(lines.at(-1)?.message).toBe("Starting download");
  });
});
