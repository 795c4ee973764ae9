import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { AssignmentReconciler } from "../src/assignment-reconciler.ts";
import { makeAssignment, removeDir, statusOf, tempDir, testReconciler, waitFor } from "./helpers.ts";

let reconciler: AssignmentReconciler | undefined;
let dir: string | undefined;
let blocker: Server | undefined;
afterEach(async () => {
  await reconciler?.shutdown("stop");
  reconciler = undefined;
  blocker?.close();
  blocker = undefined;
  if (dir) await removeDir(dir);
});

async function statusWith(id: string, pattern: RegExp) {
  return waitFor(
    () => {
      const s = statusOf(reconciler!, id);
      return s && pattern.test(s.reason) ? s : undefined;
    },
    10_000,
    `a status matching ${pattern}`,
  );
}

describe("bad input gets a clear, specific status", () => {
  it("an unusable TEI binary path", async () => {
    dir = await tempDir();
    reconciler = testReconciler({ stateDir: dir, teiBinary: join(dir, "no-such-binary") });
    const a = await makeAssignment();
    await reconciler.apply([a]);
    const s = await statusWith(a.assignmentId, /TEI binary .*no-such-binary does not exist/);
    expect(["failed", "crash_loop"]).toContain(s.status);
    expect(s.pid).toBeUndefined();
  });

  it("a GPU that does not exist on the node, without starting anything or looping", async () => {
    dir = await tempDir();
    reconciler = testReconciler({ stateDir: dir });
    const a = await makeAssignment({ gpuUuids: ["GPU-00000000-0000-0000-0000-000000000000"] });
    await reconciler.apply([a]);
    const s = await statusWith(a.assignmentId, /GPU GPU-0{8}-.* does not exist on this node/);
    expect(s.status).toBe("failed");
    expect(s.restarts).toBe(0);
    const b = await makeAssignment({ assignmentId: "emb-1", gpuIds: [7] });
    await reconciler.apply([a, b]);
    expect((await statusWith(b.assignmentId, /GPU index 7 does not exist/)).status).toBe("failed");
    // Fixing the assignment starts it at once.
    await reconciler.apply([{ ...a, gpuUuids: [], gpuIds: [0], revision: 2n }, b]);
    await waitFor(() => statusOf(reconciler!, a.assignmentId)?.status === "running", 15_000, "running after the fix");
  });

  it("a port taken by another program", async () => {
    dir = await tempDir();
    reconciler = testReconciler({ stateDir: dir });
    const a = await makeAssignment();
    blocker = createServer();
    await new Promise<void>((r) => blocker!.listen(a.prometheusPort, "127.0.0.1", r));
    await reconciler.apply([a]);
    const s = await statusWith(a.assignmentId, new RegExp(`port ${a.prometheusPort} on 127.0.0.1 is in use by another program \\(pid ${process.pid}: `));
    expect(["failed", "crash_loop"]).toContain(s.status);
    // Once the port is free again, the next retry starts TEI.
    blocker.close();
    blocker = undefined;
    await waitFor(() => statusOf(reconciler!, a.assignmentId)?.status === "running", 15_000, "running once the port is free");
  });

  it("extra_args that repeat a managed flag", async () => {
    dir = await tempDir();
    reconciler = testReconciler({ stateDir: dir });
    const a = await makeAssignment({ spec: { extraArgs: ["--prometheus-port", "0"] } });
    await reconciler.apply([a]);
    const s = await statusWith(a.assignmentId, /extra_args must not contain --prometheus-port/);
    expect(s.status).toBe("failed");
    expect(s.pid).toBeUndefined();
  });
});
