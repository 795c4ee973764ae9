import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { AssignmentReconciler } from "../src/assignment-reconciler.ts";
import { declaredGpus } from "../src/gpu-inventory.ts";
import { makeAssignment, removeDir, type StatusView, statusOf, tempDir, testReconciler, viewOf, waitFor, waitForRunning, withSpec } from "./helpers.ts";

let reconciler: AssignmentReconciler | undefined;
let dir: string | undefined;
afterEach(async () => {
  await reconciler?.shutdown("stop");
  reconciler = undefined;
  if (dir) await removeDir(dir);
});

describe("instance supervisor with the fake TEI", () => {
  it("starts TEI with each flag once, the GPU UUIDs in CUDA_VISIBLE_DEVICES and a clean environment", async () => {
    dir = await tempDir();
    const gpus = declaredGpus("node-a", 2, 81920);
    const record = join(dir, "record-{port}.json");
    reconciler = testReconciler({
      stateDir: dir,
      gpus,
      env: {
        PATH: process.env.PATH,
        HOME: "/home/tei",
        HF_TOKEN: "hf_secret",
        PORT: "1234",
        HOSTNAME: "container-id",
        API_KEY: "leak",
        TEI_FLEET_JOIN_TOKEN: "join",
        FAKE_TEI_RECORD_FILE: record,
      },
    });
    const a = await makeAssignment({
      gpuIds: [1],
      gpuUuids: [gpus[1]!.uuid],
      spec: { maxBatchTokens: 8192, pooling: "mean", extraArgs: ["--dtype", "float16", "--tokenization-workers=2"] },
    });
    await reconciler.apply([a]);
    await waitFor(() => statusOf(reconciler!, a.assignmentId)?.status === "running", 15_000, "running");
    const rec = JSON.parse(await readFile(record.replace("{port}", String(a.port)), "utf8")) as {
      argv: string[];
      env: Record<string, string>;
      pid: number;
    };
    expect(rec.argv).toEqual([
      "--model-id",
      "BAAI/bge-small-en-v1.5",
      "--port",
      String(a.port),
      "--prometheus-port",
      String(a.prometheusPort),
      "--hostname",
      "127.0.0.1",
      "--max-batch-tokens",
      "8192",
      "--pooling",
      "mean",
      "--json-output",
      "--dtype",
      "float16",
      "--tokenization-workers=2",
    ]);
    const flags = rec.argv.filter((t) => t.startsWith("-")).map((t) => t.split("=")[0]);
    expect(new Set(flags).size).toBe(flags.length);
    expect(rec.env.CUDA_VISIBLE_DEVICES).toBe(gpus[1]!.uuid);
    expect(Object.keys(rec.env).sort()).toEqual(["CUDA_VISIBLE_DEVICES", "FAKE_TEI_RECORD_FILE", "HF_TOKEN", "HOME", "PATH"]);
    const status = statusOf(reconciler, a.assignmentId)!;
    expect(status.pid).toBe(rec.pid);
    expect(status.modelType).toBe("embedding");
    expect(status.teiVersion).not.toBe("");
    await waitFor(() => statusOf(reconciler!, a.assignmentId)?.dimension === 384, 5_000, "dimension from the first probe");
  });
});

describe("instance supervisor follows the desired assignment", () => {
  it("stops TEI when the assignment's desired_state is stopped or it disappears, and replaces it when it changes", async () => {
    dir = await tempDir();
    reconciler = testReconciler({ stateDir: dir });
    const a = await makeAssignment();
    await reconciler.apply([a]);
    const first = await waitForRunning(reconciler!, a.assignmentId, 15_000, "running");

    // A changed spec (new revision with another flag) replaces the process.
    await reconciler.apply([withSpec(a, 2n, { maxBatchTokens: 4096 })]);
    const second = await waitFor(
      () => {
        const s = statusOf(reconciler!, a.assignmentId);
        return s?.status === "running" && s.pid !== first.pid ? s : undefined;
      },
      15_000,
      "a replacement process",
    );
    expect(second.restarts).toBe(0); // a replacement is not a failure
    expect(await gone(first.pid!)).toBe(true);

    await reconciler.apply([withSpec(a, 3n, { maxBatchTokens: 4096 }, { desiredState: "stopped" })]);
    await waitFor(() => statusOf(reconciler!, a.assignmentId)?.status === "stopped", 15_000, "stopped");
    expect(statusOf(reconciler, a.assignmentId)?.pid).toBeUndefined();
    expect(await gone(second.pid!)).toBe(true);

    await reconciler.apply([{ ...a, revision: 4n }]);
    const third = await waitForRunning(reconciler!, a.assignmentId, 15_000, "running again");
    await reconciler.apply([]);
    await waitFor(() => reconciler!.statuses().length === 0, 15_000, "the assignment to be gone");
    expect(await gone(third.pid!)).toBe(true);
  });

  it("fails an instance that does not become ready within its start-up timeout", async () => {
    dir = await tempDir();
    // Every status the supervisor publishes: a failed attempt is restarted after 50-100 ms, a
    // window a poll of statuses() can miss on a loaded machine (and after 3 failures the
    // replica is crash-looping, with another reason).
    const seen: StatusView[] = [];
    reconciler = testReconciler({
      stateDir: dir,
      env: { PATH: process.env.PATH, FAKE_TEI_SERVING_DELAY_MS: "60000" },
      onStatusChange: (st) => seen.push(viewOf(st)),
    });
    // 4 s: long enough for the fake TEI to boot and answer a probe on a loaded machine.
    const a = await makeAssignment({ spec: { startupTimeoutSecs: 4 } });
    await reconciler.apply([a]);
    // Every attempt times out and is restarted with backoff. On a loaded machine the first
    // attempt's last probe can itself time out while the process boots, so wait for an attempt
    // whose last probe reached TEI and saw the model service still warming up.
    const s = await waitFor(
      () => seen.find((st) => st.assignmentId === a.assignmentId && /NOT_SERVING; restarting in/.test(st.reason)),
      50_000,
      "a start-up timeout after TEI answered NOT_SERVING",
    );
    expect(s.reason).toMatch(/^TEI did not become ready within 4s: grpc.health reports tei.v1.Embed NOT_SERVING; restarting in/);
    expect(s.status).toBe("failed");
    expect(seen.some((st) => st.status === "running")).toBe(false);
  }, 60_000);
});

async function gone(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}
