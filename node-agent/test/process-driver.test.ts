import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isSameLiveProcess, parseProcStat } from "../src/proc-stat.ts";
import { createProcessDriver, ProcessStartError } from "../src/process-driver.ts";
import { removeDir, tempDir, waitFor } from "./helpers.ts";

let dir: string | undefined;
afterEach(async () => {
  if (dir) await removeDir(dir);
  dir = undefined;
});

/** A program that ignores SIGTERM and starts a grandchild in its own process group. */
async function stubborn(d: string): Promise<string> {
  const path = join(d, "stubborn.sh");
  await writeFile(
    path,
    `#!/bin/sh
trap '' TERM
sleep 60 &
echo "grandchild $!"
echo "to stderr" >&2
while true; do sleep 0.1; done
`,
  );
  await chmod(path, 0o755);
  return path;
}

describe("process driver", () => {
  it("stops a process that ignores SIGTERM with SIGKILL after the grace, and its whole group", async () => {
    dir = await tempDir();
    const driver = createProcessDriver();
    const logFile = join(dir, "out.log");
    const handle = await driver.start({ command: await stubborn(dir), args: [], env: { PATH: "/usr/bin:/bin" }, logFile });
    expect(handle.pgid).toBe(handle.pid);
    // Both streams reach the one log file; wait for both lines, which the script writes in turn.
    const line = await waitFor(async () => /grandchild (\d+)\n[\s\S]*to stderr/.exec(await readFile(logFile, "utf8")), 5_000, "stdout and stderr in the log");
    const grandchild = Number(line[1]);
    const started = Date.now();
    const exit = await driver.stop(handle, 300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(exit).toMatchObject({ signal: "SIGKILL", known: true });
    await waitFor(
      async () => {
        try {
          process.kill(grandchild, 0);
          return false;
        } catch {
          return true;
        }
      },
      2_000,
      "the grandchild to be gone",
    );
    expect((await driver.inspect(handle)).running).toBe(false);
  });

  it("records the exit code of a process that exits on its own", async () => {
    dir = await tempDir();
    const driver = createProcessDriver();
    const handle = await driver.start({ command: "/bin/sh", args: ["-c", "exit 7"], env: {}, logFile: join(dir, "out.log") });
    expect(await driver.wait(handle)).toMatchObject({ exitCode: 7, known: true });
  });

  it("refuses a missing or non-executable binary with a specific reason", async () => {
    dir = await tempDir();
    const driver = createProcessDriver();
    const spec = { args: [], env: {}, logFile: join(dir, "out.log") };
    await expect(driver.start({ ...spec, command: join(dir, "nope") })).rejects.toMatchObject({
      reason: "binary_unusable",
      message: expect.stringMatching(/does not exist/),
    });
    await writeFile(join(dir, "plain"), "x");
    await expect(driver.start({ ...spec, command: join(dir, "plain") })).rejects.toMatchObject({
      reason: "binary_unusable",
      message: expect.stringMatching(/not executable/),
    });
    await expect(driver.start({ ...spec, command: dir })).rejects.toBeInstanceOf(ProcessStartError);
  });

  it("recovers a process started by another driver (agent restart) and notices its exit", async () => {
    dir = await tempDir();
    const first = createProcessDriver();
    const handle = await first.start({ command: "/bin/sh", args: ["-c", "sleep 30"], env: {}, logFile: join(dir, "out.log") });
    first.release(handle);
    const second = createProcessDriver({ pollIntervalMs: 50 });
    expect(await second.recover(handle)).toBe(true);
    expect(await second.recover({ ...handle, startTime: "1" })).toBe(false); // a recycled pid is not ours
    const exit = second.wait(handle);
    process.kill(handle.pid, "SIGKILL");
    expect(await exit).toMatchObject({ known: false });
    expect(await isSameLiveProcess(handle.pid, handle.startTime)).toBe(false);
  });

  it("parses /proc/<pid>/stat even when the command name has spaces and parentheses", () => {
    // Fields 3.. after the name: state, ppid, pgrp, ..., starttime is field 22.
    const rest = Array.from({ length: 50 }, (_, i) => String(i + 3));
    rest[0] = "S";
    rest[2] = "777";
    rest[19] = "424242";
    expect(parseProcStat(`123 (a (weird) name) ${rest.join(" ")}\n`)).toEqual({ pid: 123, state: "S", pgrp: 777, startTime: "424242" });
    expect(parseProcStat("garbage")).toBeUndefined();
  });
});
