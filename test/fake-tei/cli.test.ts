import { describe, expect, it } from "vitest";
import { spawnFakeTei } from "./launcher.ts";

/** Runs the executable to completion. */
async function run(args: string[], env: Record<string, string> = {}) {
  const proc = spawnFakeTei(args, env);
  const status = await proc.exited;
  return { ...status, stdout: proc.stdout(), stderr: proc.stderr() };
}

const usage = "\n\nUsage: text-embeddings-router [OPTIONS]\n\nFor more information, try '--help'.\n";

describe("text-embeddings-router command line (clap 4.5)", () => {
  it("exits 2 with clap's exact message when a value flag is given twice", async () => {
    const r = await run(["--model-id", "BAAI/bge-small-en-v1.5", "--prometheus-port", "9100", "--prometheus-port", "9101"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: the argument '--prometheus-port <PROMETHEUS_PORT>' cannot be used multiple times${usage}`);
  });

  it("names every flag by its VALUE_NAME, and boolean flags without one", async () => {
    const model = await run(["--model-id", "a", "--model-id", "b"]);
    expect(model.stderr).toBe(`error: the argument '--model-id <MODEL_ID>' cannot be used multiple times${usage}`);
    const json = await run(["--model-id", "a", "--json-output", "--json-output"]);
    expect(json.code).toBe(2);
    expect(json.stderr).toBe(`error: the argument '--json-output' cannot be used multiple times${usage}`);
    const short = await run(["--model-id", "a", "-p", "1", "--port=2"]);
    expect(short.stderr.split("\n")[0]).toBe("error: the argument '--port <PORT>' cannot be used multiple times");
  });

  it("exits 2 when --model-id is missing, and accepts MODEL_ID from the environment instead", async () => {
    const r = await run(["--port", "1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: the following required arguments were not provided:\n  --model-id <MODEL_ID>${usage}`);
    const fromEnv = await run([], { MODEL_ID: "BAAI/bge-small-en-v1.5", FAKE_TEI_EXIT_AT_START: "0" });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stdout).toContain('model_id: "BAA*/***-*****-**-v1.5"');
  });

  it("exits 2 on unknown flags, invalid values and non-boolean env values", async () => {
    const unknown = await run(["--model-id", "a", "--foo"]);
    expect([unknown.code, unknown.stderr.split("\n")[0]]).toEqual([2, "error: unexpected argument '--foo' found"]);
    const dtype = await run(["--model-id", "a", "--dtype", "bf16"]);
    expect(dtype.code).toBe(2);
    expect(dtype.stderr).toContain("error: invalid value 'bf16' for '--dtype <DTYPE>'\n  [possible values: float16, float32]");
    const port = await run(["--model-id", "a", "--port", "http"]);
    expect([port.code, port.stderr.split("\n")[0]]).toEqual([2, "error: invalid value 'http' for '--port <PORT>': invalid digit found in string"]);
    const boolEnv = await run(["--model-id", "a"], { JSON_OUTPUT: "1" });
    expect([boolEnv.code, boolEnv.stderr.split("\n")[0]]).toEqual([2, "error: invalid value '1' for '--json-output'"]);
  });

  it("lets --cors-allow-origin repeat and the command line beat the environment", async () => {
    const r = await run(
      ["--model-id", "a", "--cors-allow-origin", "x", "--cors-allow-origin", "y", "--max-client-batch-size", "9"],
      { MAX_CLIENT_BATCH_SIZE: "7", MAX_CONCURRENT_REQUESTS: "5", FAKE_TEI_EXIT_AT_START: "0" },
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('cors_allow_origin: Some(["x", "y"])');
    expect(r.stdout).toContain("max_client_batch_size: 9,");
    expect(r.stdout).toContain("max_concurrent_requests: 5,");
  });

  it("prints the version and help with exit 0", async () => {
    const version = await run(["--version"]);
    expect([version.code, version.stdout]).toEqual([0, "text-embeddings-router 1.9.3\n"]);
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--prometheus-port <PROMETHEUS_PORT>");
    expect(help.stdout).toContain("[env: PROMETHEUS_PORT=]");
  });

  it("exits 1 after TEI's download error for a model it cannot download", async () => {
    const r = await run(["--model-id", "someone/unknown-model", "--port", "1", "--prometheus-port", "2"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("Starting download");
    expect(r.stderr).toMatch(/^Error: Could not download model artifacts\n/);
  });

  it("logs JSON lines with TEI's keys under --json-output", async () => {
    const r = await run(["--model-id", "BAAI/bge-small-en-v1.5", "--json-output"], { FAKE_TEI_EXIT_AT_START: "0" });
    const line = JSON.parse(r.stdout.split("\n")[0] as string) as Record<string, unknown>;
    expect(line).toMatchObject({ level: "INFO", target: "text_embeddings_router", filename: "router/src/main.rs" });
    expect(line.message).toMatch(/^Args \{ model_id: /);
    expect(line.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });
});
