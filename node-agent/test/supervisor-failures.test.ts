import { afterEach, describe, expect, it } from "vitest";
import type { AssignmentReconciler } from "../src/assignment-reconciler.ts";
import { makeAssignment, removeDir, statusOf, tempDir, testReconciler, viewOf, waitFor, waitForRunning } from "./helpers.ts";

let reconciler: AssignmentReconciler | undefined;
let dir: string | undefined;
afterEach(async () => {
  await reconciler?.shutdown("stop");
  reconciler = undefined;
  if (dir) await removeDir(dir);
});

function env(extra: Record<string, string>) {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

describe("supervisor failure handling", () => {
  it("notices kill -9 of TEI within 2 s and brings it back", async () => {
    dir = await tempDir();
    reconciler = testReconciler({ stateDir: dir });
    const a = await makeAssignment();
    await reconciler.apply([a]);
    const running = await waitForRunning(reconciler!, a.assignmentId, 15_000, "running");
    const oldPid = running.pid!;
    const killedAt = Date.now();
    process.kill(oldPid, "SIGKILL");
    const noticed = await waitFor(
      () => {
        const s = statusOf(reconciler!, a.assignmentId);
        return s && s.exitSignal === "SIGKILL" ? s : undefined;
      },
      2_000,
      "the kill to be noticed",
    );
    expect(Date.now() - killedAt).toBeLessThan(2_000);
    expect(noticed.reason).toMatch(/killed by SIGKILL/);
    const back = await waitFor(
      () => {
        const s = statusOf(reconciler!, a.assignmentId);
        return s?.status === "running" && s.pid !== oldPid ? s : undefined;
      },
      15_000,
      "running again",
    );
    expect(back.restarts).toBe(1);
  });

  it("reports crash_loop with the exit code and log lines when TEI exits at start", async () => {
    dir = await tempDir();
    reconciler = testReconciler({ stateDir: dir, env: env({ FAKE_TEI_EXIT_AT_START: "3" }) });
    const a = await makeAssignment();
    await reconciler.apply([a]);
    const s = await waitFor(
      () => {
        const st = statusOf(reconciler!, a.assignmentId);
        return st?.status === "crash_loop" ? st : undefined;
      },
      15_000,
      "crash_loop",
    );
    expect(s.exitCode).toBe(3);
    expect(s.reason).toMatch(/exited with code 3/);
    expect(s.lastLogLines.length).toBeGreaterThan(0);
    expect(s.restarts).toBeGreaterThanOrEqual(2);
  });

  it("fails the liveness probe of a hung TEI, reports unhealthy, and restarts it", async () => {
    dir = await tempDir();
    // The readiness check is not an inference request; the first probe is request 1.
    const seen: string[] = [];
    reconciler = testReconciler({
      stateDir: dir,
      env: env({ FAKE_TEI_HANG_AFTER_REQUESTS: "2" }),
      onStatusChange: (s) => seen.push(viewOf(s).status ?? ""),
    });
    const a = await makeAssignment();
    await reconciler.apply([a]);
    const first = await waitForRunning(reconciler!, a.assignmentId, 15_000, "running");
    const back = await waitFor(
      () => {
        const s = statusOf(reconciler!, a.assignmentId);
        return s?.status === "running" && s.pid !== first.pid ? s : undefined;
      },
      20_000,
      "a restarted process",
    );
    expect(seen.slice(seen.indexOf("running"))).toContain("unhealthy");
    expect(back.restarts).toBe(1);
  });

  it("repeats a failed probe within a second instead of waiting for the next interval", async () => {
    dir = await tempDir();
    const seen: Array<{ status: string; at: number }> = [];
    reconciler = testReconciler({
      stateDir: dir,
      env: env({ FAKE_TEI_HANG_AFTER_REQUESTS: "0" }), // every inference request hangs
      timing: { probeIntervalMs: 30_000, probeTimeoutMs: 300, probeFailureThreshold: 2 },
      onStatusChange: (s) => seen.push({ status: viewOf(s).status ?? "", at: Date.now() }),
    });
    const a = await makeAssignment();
    await reconciler.apply([a]);
    await waitFor(() => seen.find((s) => s.status === "running"), 15_000, "running");
    const unhealthy = await waitFor(() => seen.find((s) => s.status === "unhealthy"), 15_000, "unhealthy");
    const running = seen.find((s) => s.status === "running")!;
    // Two failed probes: 300 ms, a second's pause, 300 ms. At the 30 s interval it would take 30 s.
    expect(unhealthy.at - running.at).toBeLessThan(10_000);
  });

  it("fails an instance whose TEI falls back to the CPU although a GPU was assigned", async () => {
    dir = await tempDir();
    reconciler = testReconciler({ stateDir: dir, env: env({ FAKE_TEI_CPU_FALLBACK: "true" }) });
    const a = await makeAssignment({ gpuIds: [0] });
    await reconciler.apply([a]);
    const s = await waitFor(
      () => {
        const st = statusOf(reconciler!, a.assignmentId);
        return st && /fell back to the CPU.*restarting in/.test(st.reason) ? st : undefined;
      },
      15_000,
      "the CPU fallback to be reported",
    );
    expect(["failed", "crash_loop"]).toContain(s.status);
    expect(s.lastLogLines.some((l) => /Cpu|CPU/.test(l))).toBe(true);
  });
});
