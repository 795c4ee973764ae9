import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../test/harness/free-port.ts";
import { createDesiredStateFile } from "../src/desired-state-file.ts";
import { isSameLiveProcess, readProcStat } from "../src/proc-stat.ts";
import { createProcessStateStore } from "../src/process-state-file.ts";
import { FAKE_TEI, makeAssignment, removeDir, tempDir, waitFor } from "./helpers.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
let dir: string | undefined;
const pids: number[] = [];
afterEach(async () => {
  // Agents, then any TEI a failed test left running (they live in their own process groups).
  if (dir) for (const r of await createProcessStateStore(dir).list()) pids.push(r.pid);
  for (const pid of pids.splice(0)) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  if (dir) await removeDir(dir);
});

const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" };

describe("tei-node-agent command", () => {
  it.each([
    [["--node-name", "n", "--advertise-address", "127.0.0.1", "--tei-binary", "/x"], /--control-plane \/ TEI_FLEET_CONTROL_PLANE: is required/],
    [
      ["--control-plane", "http://x:1", "--node-name", "n", "--advertise-address", "localhost", "--tei-binary", "/x", "--gpus", "lots"],
      /--advertise-address \/ TEI_FLEET_ADVERTISE_ADDRESS: must be an IP address/,
    ],
    [["--bogus"], /unknown option '--bogus'/],
  ])("exits 2 with a message naming the problem for %j", async (args, message) => {
    const r = await execa("node", [MAIN, ...args], { reject: false, env, extendEnv: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it("on SIGTERM with --stop-instances-on-exit false leaves TEI running; the next agent re-attaches; the default stops it", async () => {
    dir = await tempDir();
    const a = await makeAssignment();
    await createDesiredStateFile(dir).save({ version: 1n, assignments: [a], savedAtMs: Date.now() });
    const port = await freePort();
    const controlPlanePort = await freePort(); // nothing listens there
    const args = (stop: string) => [
      MAIN,
      "--control-plane",
      `http://127.0.0.1:${controlPlanePort}`,
      "--node-name",
      "node-a",
      "--advertise-address",
      "127.0.0.1",
      "--tei-binary",
      FAKE_TEI,
      "--gpus",
      "1x1024",
      "--listen",
      `127.0.0.1:${port}`,
      "--state-dir",
      dir!,
      "--stop-instances-on-exit",
      stop,
      "--shutdown-drain-ms",
      "0",
    ];
    const instances = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/instances`);
      return ((await res.json()) as { instances: Array<{ status: string; pid: number | null }> }).instances;
    };

    const first = execa("node", args("false"), { env, extendEnv: false, reject: false, detached: true });
    pids.push(first.pid!);
    const running = await waitFor(async () => (await instances()).find((i) => i.status === "running"), 20_000, "running");
    first.kill("SIGTERM");
    const result = await first;
    expect(result.exitCode).toBe(0);
    // JSON logs on stderr, as every service's.
    const started = String(result.stderr)
      .split("\n")
      .find((l) => l.includes("tei-node-agent started"));
    expect(JSON.parse(started!)).toMatchObject({ level: 30, service: "tei-node-agent", node: "node-a" });
    const startTime = (await readProcStat(running.pid!))!.startTime;
    expect(await isSameLiveProcess(running.pid!, startTime)).toBe(true);

    const second = execa("node", args("true"), { env, extendEnv: false, reject: false, detached: true });
    pids.push(second.pid!);
    const again = await waitFor(async () => (await instances()).find((i) => i.status === "running"), 20_000, "running again");
    expect(again.pid).toBe(running.pid);
    second.kill("SIGTERM");
    expect((await second).exitCode).toBe(0);
    // Not a child of this test any more, so it may linger as a zombie: "gone" means not running.
    expect(await isSameLiveProcess(running.pid!, startTime)).toBe(false);
  });
});
