import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { TEI_SETTING_FLAGS } from "@tei-fleet/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiFixture, JOIN, startApi } from "../../control-plane/test/api-fixtures.ts";
import { type NodeAgent, startNodeAgent } from "../src/agent.ts";
import { resolveConfig } from "../src/config.ts";
import { FAKE_TEI, removeDir, tempDir, testLogger, waitFor } from "./helpers.ts";

// A TEI setting written over REST reaches TEI's command line through a real control plane and a
// real agent: the assignment carries the spec, and the agent builds argv with core's rules.

/** A valid value for each of core's TEI settings, by REST field name. */
const SAMPLES: Record<string, string | number> = { max_batch_tokens: 2048, max_concurrent_requests: 64, pooling: "mean" };

let api: ApiFixture;
let agent: NodeAgent;
let dir: string;
beforeAll(async () => {
  api = await startApi();
  dir = await tempDir();
  const config = resolveConfig(
    {
      controlPlane: api.url,
      nodeName: "node-a",
      advertiseAddress: "127.0.0.1",
      teiBinary: FAKE_TEI,
      gpus: "1x24576",
      listen: "127.0.0.1:0",
      stateDir: dir,
      probeIntervalMs: "200",
      shutdownDrainMs: "0",
      stopGraceMs: "2000",
      passEnv: ["FAKE_TEI_*"],
    },
    { TEI_FLEET_JOIN_TOKEN: JOIN },
  );
  agent = await startNodeAgent(config, {
    logger: testLogger,
    env: { PATH: process.env.PATH, FAKE_TEI_RECORD_FILE: join(dir, "launch-{port}.json") },
  });
});
afterAll(async () => {
  await agent?.shutdown();
  await api?.close();
  if (dir) await removeDir(dir);
});

describe("a spec's TEI settings reach TEI", () => {
  it("has a sample for every TEI setting core knows", () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(TEI_SETTING_FLAGS.map((s) => s.field).sort());
  });

  it("passes every setting written over REST to TEI's command line once, with extra_args after them", async () => {
    const created = await api.rest("POST", "/instances", {
      name: "emb",
      model_id: "BAAI/bge-small-en-v1.5",
      gpu_memory_mb: 1024,
      extra_args: ["--dtype", "float16"],
      ...SAMPLES,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const running = await waitFor(
      async () => {
        const { body } = await api.rest("GET", "/instances/emb");
        return body?.status === "running" ? body : undefined;
      },
      20_000,
      "emb running",
    );
    const launch = JSON.parse(await readFile(join(dir, `launch-${running.port}.json`), "utf8")) as { argv: string[] };
    for (const { field, flag } of TEI_SETTING_FLAGS) {
      expect(
        launch.argv.filter((a) => a === flag),
        flag,
      ).toHaveLength(1);
      expect(launch.argv[launch.argv.indexOf(flag) + 1], flag).toBe(String(SAMPLES[field]));
    }
    expect(launch.argv.slice(-2)).toEqual(["--dtype", "float16"]);
  });
});
