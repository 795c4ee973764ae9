/**
 * The gateway benchmark's load generator: h2load (Debian's nghttp2-client) in its two modes,
 * gRPC over h2c (as the router bench drives it) and HTTP/1.1 with `--h1` for the JSON routes,
 * with one request body from a file. Reduces h2load's per-request log to the figures printed:
 * p50, mean and p99 latency, requests per second, and how many answers were 2xx.
 */
import { execFile } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** One h2load run. */
export interface LoadOptions {
  /** Full URL with the path (a gRPC method path, or an HTTP route). */
  url: string;
  /** File holding the body sent with every request (a framed gRPC message, or JSON). */
  bodyFile: string;
  /** "grpc": h2c with gRPC's headers; "h1": HTTP/1.1 POST with content-type application/json. */
  kind: "grpc" | "h1";
  /** Extra request headers. */
  headers?: Record<string, string>;
  requests: number;
  /** Connections. */
  clients: number;
  /** Concurrent streams per connection (gRPC only; HTTP/1.1 runs one request per connection at a time). */
  streams?: number;
  /** Directory for the per-request log. */
  tmpDir: string;
}

/** What one run measured (latencies in µs). */
export interface LoadResult {
  requests: number;
  /** Requests that got an answer with a 2xx status (for gRPC, that does not check grpc-status). */
  ok: number;
  reqPerSec: number;
  p50Us: number;
  meanUs: number;
  p99Us: number;
}

let seq = 0;

/** Runs h2load once. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const log = join(o.tmpDir, `h2load-${process.pid}-${++seq}.log`);
  const headers =
    o.kind === "grpc"
      ? ["-H", "content-type: application/grpc", "-H", "te: trailers"]
      : ["--h1", "-H", "content-type: application/json", "-H", "accept: application/json"];
  const args = [
    "-n",
    String(o.requests),
    "-c",
    String(o.clients),
    "-m",
    String(o.kind === "grpc" ? (o.streams ?? 1) : 1),
    "-d",
    o.bodyFile,
    ...headers,
    ...Object.entries(o.headers ?? {}).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
    `--log-file=${log}`,
    o.url,
  ];
  const { stdout } = await run("h2load", args, { maxBuffer: 16 << 20 });
  const ok = Number(/status codes: (\d+) 2xx/.exec(stdout)?.[1] ?? 0);
  const reqPerSec = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(stdout)?.[1] ?? 0);
  // Log lines: start time (µs since epoch), status, duration (µs), stream id.
  const durations = (await readFile(log, "utf8").catch(() => ""))
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => Number(l.split("\t")[2]))
    .sort((a, b) => a - b);
  await rm(log, { force: true });
  const n = Math.max(1, durations.length);
  return {
    requests: o.requests,
    ok,
    reqPerSec,
    p50Us: durations[Math.floor(durations.length / 2)] ?? 0,
    meanUs: durations.reduce((s, d) => s + d, 0) / n,
    p99Us: durations[Math.min(durations.length - 1, Math.floor(durations.length * 0.99))] ?? 0,
  };
}
