import { constants } from "node:fs";
import { access, mkdir, open, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { withTimeout } from "./async-utils.ts";
import { isSameLiveProcess, readProcStat } from "./proc-stat.ts";

/**
 * A process driver with Nomad's contract (start, wait, stop, inspect, recover). TEI processes are
 * started detached, in their own process group, with stdout and stderr written straight to a log
 * file (not a pipe): they outlive an agent restart without hitting EPIPE, and the next agent
 * re-attaches to them by pid + start time.
 */

/** What to run. */
export interface ProcessSpec {
  command: string;
  args: readonly string[];
  /** The complete environment; nothing is inherited. */
  env: Record<string, string>;
  /** stdout and stderr are appended here. */
  logFile: string;
}

/** Identifies one started process; serialisable, so it survives the agent in the state dir. */
export interface ProcessHandle {
  pid: number;
  /** Process group id; equals `pid` for processes this driver started. */
  pgid: number;
  /** `/proc/<pid>/stat` start time: guards every signal against a recycled pid. */
  startTime: string;
  startedAtMs: number;
}

/** How a process ended. */
export interface ProcessExit {
  exitCode?: number;
  signal?: string;
  /**
   * False when the agent saw the process disappear but could not collect its status (it was
   * re-attached after an agent restart, so another process is its parent).
   */
  known: boolean;
  atMs: number;
}

/** Why a process could not be started; `reason` is a short machine-readable code. */
export class ProcessStartError extends Error {
  readonly reason: "binary_unusable" | "spawn_failed" | "log_unwritable";
  constructor(reason: ProcessStartError["reason"], message: string) {
    super(message);
    this.name = "ProcessStartError";
    this.reason = reason;
  }
}

/** Options of {@link createProcessDriver}. */
export interface ProcessDriverOptions {
  /** How often a re-attached (not our child) process is checked for exit. Default 250 ms. */
  pollIntervalMs?: number;
  /** Wait after SIGKILL before giving up on seeing the exit. Default 5000 ms. */
  killWaitMs?: number;
}

/** The driver contract. */
export interface ProcessDriver {
  /** Starts a process; throws {@link ProcessStartError} with a specific reason. */
  start(spec: ProcessSpec): Promise<ProcessHandle>;
  /** Resolves when the process exits (the same promise on every call). */
  wait(handle: ProcessHandle): Promise<ProcessExit>;
  /** SIGTERM to the process group, `graceMs`, then SIGKILL to the group. Resolves on exit. */
  stop(handle: ProcessHandle, graceMs: number): Promise<ProcessExit>;
  /** Whether the process still runs, and how it ended if it did not. */
  inspect(handle: ProcessHandle): Promise<{ running: boolean; exit?: ProcessExit }>;
  /**
   * Re-attaches to a process started by an earlier agent: true when the pid still belongs to the
   * same process (same start time) and it runs; {@link wait} then works for it.
   */
  recover(handle: ProcessHandle): Promise<boolean>;
  /** Stops tracking a process without touching it (the agent is leaving it running). */
  release(handle: ProcessHandle): void;
}

interface Tracked {
  exit: Promise<ProcessExit>;
  settled?: ProcessExit;
  release: () => void;
}

/** Creates the detached-process driver described in the module comment. */
export function createProcessDriver(options: ProcessDriverOptions = {}): ProcessDriver {
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  const killWaitMs = options.killWaitMs ?? 5_000;
  const tracked = new Map<string, Tracked>();
  const key = (h: ProcessHandle) => `${h.pid}:${h.startTime}`;

  function track(handle: ProcessHandle, exit: Promise<ProcessExit>, release: () => void): Tracked {
    const t: Tracked = { exit, release };
    void exit.then((e) => {
      t.settled = e;
    });
    tracked.set(key(handle), t);
    return t;
  }

  /** Polls /proc for a process that is not our child (exit status unknowable). */
  function pollExit(handle: ProcessHandle): { exit: Promise<ProcessExit>; release: () => void } {
    let released = false;
    const exit = (async () => {
      while (!released) {
        if (!(await isSameLiveProcess(handle.pid, handle.startTime))) return { known: false, atMs: Date.now() };
        await sleep(pollIntervalMs, undefined, { ref: false });
      }
      return new Promise<ProcessExit>(() => {});
    })();
    return {
      exit,
      release: () => {
        released = true;
      },
    };
  }

  async function signalGroup(handle: ProcessHandle, signal: NodeJS.Signals): Promise<void> {
    // Never signal a pid that has been recycled by an unrelated process.
    if (!(await isSameLiveProcess(handle.pid, handle.startTime))) return;
    try {
      process.kill(handle.pgid === handle.pid ? -handle.pgid : handle.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
  }

  const driver: ProcessDriver = {
    async start(spec) {
      await checkExecutable(spec.command);
      const fd = await openLog(spec.logFile);
      // execa's types only list descriptors 1-9; any open descriptor is handed to spawn() as is.
      const logFd = fd.fd as 3;
      const spawnOptions = {
        env: spec.env,
        extendEnv: false,
        detached: true, // own process group, survives the agent
        cleanup: false, // the agent decides when TEI stops, not its own exit
        stdin: "ignore",
        stdout: logFd,
        stderr: logFd,
        buffer: false,
        reject: false,
      } as const;
      const subprocess = execa(spec.command, [...spec.args], spawnOptions);
      // The child holds its own copy of the descriptor.
      await fd.close();
      const pid = subprocess.pid;
      if (pid === undefined) {
        const result = await subprocess;
        throw new ProcessStartError("spawn_failed", `cannot start ${spec.command}: ${result.shortMessage}`);
      }
      const startedAtMs = Date.now();
      const procStat = await readProcStat(pid);
      const handle: ProcessHandle = { pid, pgid: pid, startTime: procStat?.startTime ?? "unknown", startedAtMs };
      const exit = subprocess.then((r) => ({
        exitCode: r.exitCode,
        signal: r.signal,
        known: true,
        atMs: Date.now(),
      }));
      track(handle, exit, () => subprocess.nodeChildProcess.unref());
      return handle;
    },

    wait(handle) {
      const t = tracked.get(key(handle));
      if (t) return t.exit;
      // Unknown handle: treat like a re-attached process.
      const { exit, release } = pollExit(handle);
      return track(handle, exit, release).exit;
    },

    async stop(handle, graceMs) {
      const exit = driver.wait(handle);
      const t = tracked.get(key(handle));
      if (t?.settled) return t.settled;
      await signalGroup(handle, "SIGTERM");
      const graceful = await withTimeout(exit, graceMs);
      if (graceful) {
        // TEI is gone; anything left in its group (helpers it spawned) goes too.
        await signalGroup(handle, "SIGKILL").catch(() => {});
        return graceful;
      }
      await signalGroup(handle, "SIGKILL");
      const killed = await withTimeout(exit, killWaitMs);
      return killed ?? { known: false, atMs: Date.now() };
    },

    async inspect(handle) {
      const t = tracked.get(key(handle));
      if (t?.settled) return { running: false, exit: t.settled };
      return { running: await isSameLiveProcess(handle.pid, handle.startTime) };
    },

    async recover(handle) {
      if (!(await isSameLiveProcess(handle.pid, handle.startTime))) return false;
      if (!tracked.has(key(handle))) {
        const { exit, release } = pollExit(handle);
        track(handle, exit, release);
      }
      return true;
    },

    release(handle) {
      const t = tracked.get(key(handle));
      if (!t) return;
      t.release();
      tracked.delete(key(handle));
    },
  };
  return driver;
}

async function openLog(path: string) {
  try {
    await mkdir(dirname(path), { recursive: true });
    return await open(path, "a", 0o640);
  } catch (error) {
    throw new ProcessStartError("log_unwritable", `cannot open log file ${path}: ${(error as Error).message}`);
  }
}

/** Refuses a binary that is missing, not a regular file, or not executable, with a clear message. */
async function checkExecutable(command: string): Promise<void> {
  // A bare name is looked up in PATH by the spawn itself; only paths can be checked up front.
  if (!command.includes("/")) return;
  try {
    const s = await stat(command);
    if (!s.isFile()) throw new ProcessStartError("binary_unusable", `TEI binary ${command} is not a regular file`);
    await access(command, constants.X_OK);
  } catch (error) {
    if (error instanceof ProcessStartError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const what = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not executable" : `is unusable (${code})`;
    throw new ProcessStartError("binary_unusable", `TEI binary ${command} ${what}`);
  }
}
