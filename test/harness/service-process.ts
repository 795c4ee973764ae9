import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";

/** Options for one TEI Fleet service run as a real child process. */
export interface ServiceProcessOptions {
  /** Short name used in messages and as the log file name. */
  name: string;
  /** The service's entry point (a .ts file run by Node 24 directly) and its arguments. */
  script: string;
  args: string[];
  /** Flags of Node itself, before the script (a router's ROUTER_NODE_FLAGS). */
  nodeFlags?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** stdout and stderr go here, appended. */
  logFile: string;
  /** Polled until it answers 2xx; the process is ready then. */
  readyUrl: string;
  readyTimeoutMs?: number;
}

/** A running service process: its pid, and the ways a test may end it. */
export interface ServiceProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** SIGTERM, then SIGKILL after `graceMs`. Resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once (a crash, from the fleet's point of view). */
  kill(): Promise<void>;
  /** Everything it wrote so far. */
  log(): string;
}

/**
 * Starts a service with the same Node that runs the tests and waits until its readiness URL
 * answers. If it exits first, the error carries the tail of its log.
 */
export async function startServiceProcess(options: ServiceProcessOptions): Promise<ServiceProcess> {
  const out = createWriteStream(options.logFile, { flags: "a" });
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), options.script, ...options.args], {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const log = () => {
    try {
      return readFileSync(options.logFile, "utf8");
    } catch {
      return "";
    }
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
  let dead = false;
  void exited.then(() => {
    dead = true;
  });
  for (;;) {
    if (dead) throw new Error(`${options.name} exited with ${child.exitCode ?? child.signalCode} before it was ready:\n${tail(log())}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${options.name} was not ready at ${options.readyUrl} in time:\n${tail(log())}`);
    }
    try {
      const res = await fetch(options.readyUrl, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const end = async (signal: NodeJS.Signals, graceMs: number) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return {
    name: options.name,
    pid: child.pid!,
    child,
    stop: (graceMs = 10_000) => end("SIGTERM", graceMs),
    kill: () => end("SIGKILL", 0),
    log,
  };
}

function tail(text: string, lines = 40): string {
  return text.split("\n").slice(-lines).join("\n");
}
