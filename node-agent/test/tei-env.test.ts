import { describe, expect, it } from "vitest";
import { buildTeiEnv, DEFAULT_PASS_ENV, passEnvPatternError } from "../src/tei-env.ts";

const parentEnv = {
  PATH: "/usr/bin:/bin",
  HOME: "/root",
  PORT: "80",
  HOSTNAME: "abc123",
  API_KEY: "k",
  MODEL_ID: "other/model",
  HF_TOKEN: "hf_x",
  HF_HOME: "/data/hf",
  LOG_LEVEL: "debug",
  TEI_FLEET_JOIN_TOKEN: "secret",
  FAKE_TEI_HANG_AFTER_REQUESTS: "3",
  FAKE_TEI_SLOW_MS: "10",
  FAKE_OTHER: "no",
  CUDA_VISIBLE_DEVICES: "0,1",
};

describe("TEI environment", () => {
  it("keeps only PATH, HOME, the allowed names and CUDA_VISIBLE_DEVICES", () => {
    const env = buildTeiEnv({ parentEnv, passEnv: DEFAULT_PASS_ENV, gpuUuids: ["GPU-a"] });
    expect(env).toEqual({ PATH: "/usr/bin:/bin", HOME: "/root", HF_TOKEN: "hf_x", HF_HOME: "/data/hf", LOG_LEVEL: "debug", CUDA_VISIBLE_DEVICES: "GPU-a" });
  });

  it("passes PREFIX* patterns through but never the join token or the agent's own CUDA_VISIBLE_DEVICES", () => {
    const env = buildTeiEnv({ parentEnv, passEnv: ["FAKE_TEI_*", "TEI_*", "CUDA_*"], gpuUuids: ["GPU-a", "GPU-b"] });
    expect(env.FAKE_TEI_HANG_AFTER_REQUESTS).toBe("3");
    expect(env.FAKE_TEI_SLOW_MS).toBe("10");
    expect(env.FAKE_OTHER).toBeUndefined();
    expect(env.TEI_FLEET_JOIN_TOKEN).toBeUndefined();
    expect(env.CUDA_VISIBLE_DEVICES).toBe("GPU-a,GPU-b");
  });

  it("hides every GPU from an instance without one", () => {
    expect(buildTeiEnv({ parentEnv, passEnv: [], gpuUuids: [] }).CUDA_VISIBLE_DEVICES).toBe("");
  });

  it("gives a PATH even when the agent has none", () => {
    expect(buildTeiEnv({ parentEnv: {}, passEnv: [], gpuUuids: [] }).PATH).toMatch(/\/usr\/bin/);
  });

  it("accepts names and NAME_PREFIX* patterns only", () => {
    expect(passEnvPatternError("HF_TOKEN")).toBeUndefined();
    expect(passEnvPatternError("FAKE_TEI_*")).toBeUndefined();
    expect(passEnvPatternError("*")).toMatch(/not an environment name/);
    expect(passEnvPatternError("A*B")).toBeDefined();
    expect(passEnvPatternError("has space")).toBeDefined();
  });
});
