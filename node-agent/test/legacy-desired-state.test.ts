import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../test/harness/free-port.ts";
import { type NodeAgent, startNodeAgent } from "../src/agent.ts";
import { resolveConfig } from "../src/config.ts";
import { FAKE_TEI, removeDir, statusOf, tempDir, testLogger, waitFor } from "./helpers.ts";

let agent: NodeAgent | undefined;
let dir: string | undefined;
afterEach(async () => {
  await agent?.shutdown();
  agent = undefined;
  if (dir) await removeDir(dir);
});

describe("an agent upgraded while the control plane is away", () => {
  it("runs the desired state an older agent saved, when assignments copied the spec's fields one by one", async () => {
    dir = await tempDir();
    const port = await freePort();
    const prometheusPort = await freePort();
    // desired.json as agents wrote it before assignments carried the spec.
    const legacy = {
      assignmentId: "emb-0-r1",
      instanceName: "emb",
      revision: "1",
      modelId: "BAAI/bge-small-en-v1.5",
      port,
      prometheusPort,
      maxBatchTokens: 2048,
      extraArgs: ["--dtype", "float16"],
      startupTimeoutSecs: 20,
      desiredState: "running",
    };
    await writeFile(join(dir, "desired.json"), JSON.stringify({ version: "7", savedAtMs: Date.now(), assignments: [legacy] }));
    const config = resolveConfig(
      {
        controlPlane: `http://127.0.0.1:${await freePort()}`, // nothing listens there
        nodeName: "node-a",
        advertiseAddress: "127.0.0.1",
        teiBinary: FAKE_TEI,
        gpus: "1x1024",
        listen: "127.0.0.1:0",
        stateDir: dir,
        probeIntervalMs: "200",
        shutdownDrainMs: "0",
        stopGraceMs: "2000",
        passEnv: ["FAKE_TEI_*"],
      },
      { TEI_FLEET_JOIN_TOKEN: "join-secret" },
    );
    agent = await startNodeAgent(config, { logger: testLogger, env: { PATH: process.env.PATH, FAKE_TEI_RECORD_FILE: join(dir, "launch-{port}.json") } });
    await waitFor(() => statusOf(agent!.reconciler, "emb-0-r1")?.status === "running", 15_000, "running from the saved desired state");
    const launch = JSON.parse(await readFile(join(dir, `launch-${port}.json`), "utf8")) as { argv: string[] };
    expect(launch.argv.slice(0, 2)).toEqual(["--model-id", "BAAI/bge-small-en-v1.5"]);
    expect(launch.argv[launch.argv.indexOf("--max-batch-tokens") + 1]).toBe("2048");
    expect(launch.argv.slice(-2)).toEqual(["--dtype", "float16"]);
  });
});
