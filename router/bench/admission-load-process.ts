/**
 * The load of `pnpm bench:admission` run in processes of its own, apart from the bench's: the
 * generator (Connect's client, as applications call) and the probe (a few calls per second,
 * timed by a client whose event loop is otherwise idle, so that a refusal's time is the
 * router's and the network's, not the generator's own backlog; with Node's bare HTTP/2 client,
 * admission-h2-caller.ts, as Connect's own CPU per call in an idle process was most of what the
 * probe measured: p50 1.3 ms against 0.2 ms).
 *
 * The generator runs at a lower CPU priority (`nice`). On this 2-core machine the routers under
 * test share the CPUs with it; at equal priority a router woken by a call waited for a CPU the
 * generator held: its 1 ms timer fired 3-12 ms late with no CPU used in between (woken, not
 * run), and the probe's slowest refusals took 6-20 ms. In production a router has its own host;
 * the generator, which only has to send on schedule (its worst lateness is printed), yields to
 * it here. Takes one JSON argument ({@link LoadProcessOptions}) and prints a LoadResult as JSON.
 */
import { spawn } from "node:child_process";
import { setPriority } from "node:os";
import { fileURLToPath } from "node:url";
import { type LoadOptions, type LoadResult, runLoad } from "./admission-load.ts";

/** What a load process runs. */
export interface LoadProcessOptions {
  /** Epoch ms to start at (every load process of a measurement starts then), once it has loaded. */
  readonly startAtMs: number;
  readonly load: LoadOptions;
  /** Its niceness (0: the bench's own priority; higher yields the CPU to the routers). */
  readonly nice: number;
}

/** Niceness of the load generator's process. */
export const GENERATOR_NICE = 10;

/** Runs a load in a child process; resolves with its outcomes once it is done. */
export function startLoadProcess(o: LoadProcessOptions): Promise<LoadResult> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), JSON.stringify(o)], { stdio: ["ignore", "pipe", "inherit"] });
  // Raising a child's niceness needs no privilege; it is set before the child starts its load.
  if (o.nice !== 0 && child.pid !== undefined) setPriority(child.pid, o.nice);
  const chunks: Buffer[] = [];
  child.stdout.on("data", (d: Buffer) => chunks.push(d));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) reject(new Error(`load process exited with ${code}`));
      else resolve(JSON.parse(Buffer.concat(chunks).toString()) as LoadResult);
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const o = JSON.parse(process.argv[2] ?? "{}") as LoadProcessOptions;
  await new Promise((r) => setTimeout(r, Math.max(0, o.startAtMs - Date.now())));
  const result: LoadResult = await runLoad(o.load);
  process.stdout.write(JSON.stringify(result));
}
