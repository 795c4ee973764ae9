import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Embed } from "@tei-fleet/proto/tei/v1";
import { afterEach, describe, expect, it } from "vitest";
import type { AssignmentReconciler } from "../src/assignment-reconciler.ts";
import { isSameLiveProcess, readProcStat } from "../src/proc-stat.ts";
import { instanceDir } from "../src/process-state-file.ts";
import { makeAssignment, removeDir, statusOf, tempDir, testReconciler, waitFor, waitForRunning } from "./helpers.ts";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A TEI process an agent started and left running when it detached (its state dir kept). */
async function leftRunningByADetachedAgent() {
  const dir = await tempDir();
  cleanups.push(() => removeDir(dir));
  const first = testReconciler({ stateDir: dir });
  const a = await makeAssignment();
  await first.apply([a]);
  const s = await waitForRunning(first, a.assignmentId, 15_000, "running");
  await first.shutdown("detach");
  return { dir, a, s };
}

describe("agent restart without interruption", () => {
  it("re-attaches to the running TEI process instead of restarting it, and requests keep succeeding", async () => {
    const dir = await tempDir();
    cleanups.push(() => removeDir(dir));
    const record = join(dir, "record-{port}.json");
    const env = { PATH: process.env.PATH, FAKE_TEI_RECORD_FILE: record };
    const first = testReconciler({ stateDir: dir, env });
    let second: AssignmentReconciler | undefined;
    cleanups.push(async () => {
      await (second ?? first).shutdown("stop");
    });
    const a = await makeAssignment();
    await first.apply([a]);
    const before = await waitForRunning(first!, a.assignmentId, 15_000, "running");

    // Keep calling TEI directly while the supervisor goes away and comes back.
    const embed = createClient(Embed, createGrpcTransport({ baseUrl: `http://127.0.0.1:${a.port}` }));
    let ok = 0;
    let failed = 0;
    let calling = true;
    const caller = (async () => {
      while (calling) {
        try {
          await embed.embed({ inputs: "hello" }, { timeoutMs: 2_000 });
          ok += 1;
        } catch {
          failed += 1;
        }
      }
    })();

    await first.shutdown("detach");
    expect(await isSameLiveProcess(before.pid!, (await readProcStat(before.pid!))!.startTime)).toBe(true);

    second = testReconciler({ stateDir: dir, env });
    await second.recover([a]);
    await second.apply([a]);
    const after = statusOf(second, a.assignmentId)!;
    expect(after.status).toBe("running");
    expect(after.pid).toBe(before.pid);
    await new Promise((r) => setTimeout(r, 500)); // a few probes of the re-attached process
    calling = false;
    await caller;
    expect(failed).toBe(0);
    expect(ok).toBeGreaterThan(10);
    expect(statusOf(second, a.assignmentId)?.pid).toBe(before.pid);
    const rec = JSON.parse(await readFile(record.replace("{port}", String(a.port)), "utf8")) as { pid: number };
    expect(rec.pid).toBe(before.pid); // never started again

    // The re-attached process is still supervised: a kill is noticed and it comes back.
    process.kill(before.pid!, "SIGKILL");
    await waitFor(
      () => {
        const s = statusOf(second!, a.assignmentId);
        return s?.status === "running" && s.pid !== before.pid;
      },
      15_000,
      "a restarted process after the kill",
    );
  });

  it("stops a surviving TEI process whose assignment is no longer desired", async () => {
    const { dir, s } = await leftRunningByADetachedAgent();
    const startTime = (await readProcStat(s.pid!))!.startTime;

    const second = testReconciler({ stateDir: dir });
    cleanups.push(() => second.shutdown("stop"));
    await second.recover([]);
    expect(await isSameLiveProcess(s.pid!, startTime)).toBe(false);
    expect(second.statuses()).toEqual([]);
  });

  it("re-attaches to its own TEI found on the instance's port when the process record was lost", async () => {
    const { dir, a, s } = await leftRunningByADetachedAgent();
    // The agent died between starting TEI and recording it.
    await rm(join(instanceDir(dir, a.assignmentId), "process.json"));

    const second = testReconciler({ stateDir: dir });
    cleanups.push(() => second.shutdown("stop"));
    await second.recover([a]);
    await second.apply([a]);
    const after = await waitForRunning(second, a.assignmentId, 15_000, "running again");
    expect(after.pid).toBe(s.pid);
    expect(after.restarts).toBe(0);
  });
});
