/**
 * A probe of `pnpm bench:admission`, run as its own process beside the load generator: a few
 * calls per second (open loop, evenly spaced) to one router, timed by a client whose event loop
 * is otherwise idle, so that a refusal's time is the router's and the network's, not the
 * generator's own backlog (which the generator cannot help adding on a busy machine), and with
 * Node's bare HTTP/2 client (admission-h2-caller.ts), not Connect's, whose own CPU per call in an
 * idle process was most of what the probe measured (p50 1.3 ms against 0.2 ms). Takes one
 * JSON argument (the LoadStream, durationMs, deadlineMs) and prints the outcomes as JSON.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type CallOutcome, type LoadResult, type LoadStream, runLoad } from "./admission-load.ts";

/** What a probe runs. */
export interface ProbeOptions {
  /** Epoch ms to start at (the generator starts then too), once this process has loaded. */
  readonly startAtMs: number;
  readonly stream: LoadStream;
  readonly durationMs: number;
  readonly deadlineMs: number;
}

/** Runs a probe in a child process; resolves with its outcomes once it is done. */
export function startProbe(o: ProbeOptions): Promise<LoadResult> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), JSON.stringify(o)], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => {
      if (code !== 0) reject(new Error(`probe exited with ${code}`));
      else resolve(JSON.parse(out) as LoadResult);
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const o = JSON.parse(process.argv[2] ?? "{}") as ProbeOptions;
  await new Promise((r) => setTimeout(r, Math.max(0, o.startAtMs - Date.now())));
  const res = await runLoad({ streams: [o.stream], durationMs: o.durationMs, deadlineMs: o.deadlineMs, client: "http2" });
  const outcomes: CallOutcome[] = res.outcomes;
  process.stdout.write(JSON.stringify({ outcomes, maxLagMs: res.maxLagMs }));
}
