import { create } from "@bufbuild/protobuf";
import { InstanceSpecSchema } from "@tei-fleet/proto/fleet/v1";
import { describe, expect, it } from "vitest";
import { MANAGED_FLAGS, TEI_SETTING_FLAGS, teiCommandLine } from "../src/index.ts";
import { applySpecFields, parseInstanceSpec, parseProtoSpec, parseProtoSpecUpdate, specToJson } from "../src/spec/index.ts";

const full = {
  name: "emb",
  model_id: "BAAI/bge-small-en-v1.5",
  port: 20000,
  max_batch_tokens: 2048,
  max_concurrent_requests: 64,
  pooling: "mean",
  gpu_id: 1,
  prometheus_port: 20001,
  extra_args: ["--dtype", "float16"],
  startup_timeout_secs: 600,
  replicas: 1,
  gpu_count: 1,
  gpu_memory_mb: 4096,
  node: "gpu-1",
  node_selector: { zone: "a" },
  placement_policy: "spread",
  desired_state: "stopped",
};

const accepted = (body: unknown) => {
  const result = parseInstanceSpec(body);
  if (!result.ok) throw new Error(result.problem.message);
  return result.value;
};

describe("the instance spec", () => {
  it("reads back as written: every REST field survives the proto spec", () => {
    expect(specToJson(accepted(full))).toEqual(full);
  });

  it("shows the defaults of a minimal spec, and allocates ports given as 0", () => {
    expect(specToJson(accepted({ name: "emb", model_id: "m", port: 0 }))).toEqual({ name: "emb", model_id: "m", extra_args: [], desired_state: "running" });
  });

  it("refuses a proto spec with the REST body's verdict, field names included", () => {
    const proto = accepted(full);
    expect(parseProtoSpec(proto)).toEqual({ ok: true, value: proto });
    expect(parseProtoSpec(create(InstanceSpecSchema, { name: "emb" }))).toEqual(parseInstanceSpec({ name: "emb" }));
    expect(parseProtoSpec(create(InstanceSpecSchema, { name: "emb", modelId: "m", pooling: "" }))).toMatchObject({ ok: false, problem: { field: "pooling" } });
    expect(parseProtoSpec(create(InstanceSpecSchema, { name: "emb", modelId: "m", extraArgs: ["-p", "1"] }))).toEqual(
      parseInstanceSpec({ name: "emb", model_id: "m", extra_args: ["-p", "1"] }),
    );
  });

  it("updates only what a change sets; null and a 0 port go back to the default", () => {
    const spec = accepted(full);
    const change = parseProtoSpecUpdate(create(InstanceSpecSchema, { maxBatchTokens: 4096 }), "emb");
    expect(change).toEqual({ ok: true, value: { max_batch_tokens: 4096 } });
    const next = applySpecFields(spec, { max_batch_tokens: null, port: 0, node_selector: null, gpu_memory_mb: 8192 });
    expect(specToJson(next)).toEqual({ ...full, max_batch_tokens: undefined, port: undefined, node_selector: undefined, gpu_memory_mb: 8192 });
  });
});

describe("TEI's command line for a spec", () => {
  const placement = { port: 20000, prometheusPort: 20001, hostname: "10.0.0.5" };

  it("passes every TEI setting that is set, once, between the managed flags and extra_args", () => {
    const line = teiCommandLine(accepted(full), placement);
    expect(line).toEqual({
      ok: true,
      args: [
        ...["--model-id", "BAAI/bge-small-en-v1.5", "--port", "20000", "--prometheus-port", "20001", "--hostname", "10.0.0.5"],
        ...["--max-batch-tokens", "2048", "--max-concurrent-requests", "64", "--pooling", "mean"],
        ...["--json-output", "--dtype", "float16"],
      ],
    });
  });

  it("keeps each setting's flag out of extra_args", () => {
    for (const { field, flag } of TEI_SETTING_FLAGS) expect(MANAGED_FLAGS.get(flag), flag).toBe(`use the field ${field}`);
  });

  it("refuses what TEI would refuse, naming the flag", () => {
    expect(teiCommandLine(accepted(full), { ...placement, prometheusPort: 20000 })).toMatchObject({ ok: false, problem: { flag: "--prometheus-port" } });
    expect(teiCommandLine(create(InstanceSpecSchema, { modelId: "m", pooling: "max" }), placement)).toMatchObject({
      ok: false,
      problem: { flag: "--pooling" },
    });
  });
});
