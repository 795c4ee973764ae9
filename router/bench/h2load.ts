/**
 * Runs h2load (Debian's nghttp2-client) with a framed gRPC request and reduces its per-request
 * log to the figures the benchmark prints: mean and p99 latency, requests per second.
 */
import { execFile } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** One h2load run. */
export interface H2loadOptions {
  /** Full URL including the gRPC path. */
  url: string;
  /** File holding the framed request message (sent as the body of every request). */
  bodyFile: string;
  /** Extra request headers (routing metadata). */
  headers: Record<string, string>;
  requests: number;
  /** Connections. */
  clients: number;
  /** Concurrent streams per connection. */
  streams: number;
  /** Directory for the per-request log. */
  tmpDir: string;
}

/** What one run measured. */
export interface H2loadResult {
  requests: number;
  succeeded: number;
  reqPerSec: number;
  meanUs: number;
  /** The median: far less moved than the mean by the few requests another process delayed. */
  p50Us: number;
  p99Us: number;
}

/** Runs h2load once. */
export async function h2load(o: H2loadOptions): Promise<H2loadResult> {
  const log = join(o.tmpDir, `h2load-${process.pid}-${Date.now()}.log`);
  const args = [
    "-n",
    String(o.requests),
    "-c",
    String(o.clients),
    "-m",
    String(o.streams),
    "-d",
    o.bodyFile,
    "-H",
    "content-type: application/grpc",
    "-H",
    "te: trailers",
    ...Object.entries(o.headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
    `--log-file=${log}`,
    o.url,
  ];
  const { stdout } = await run("h2load", args, { maxBuffer: 16 << 20 });
  const succeeded = Number(/(\d+) succeeded/.exec(stdout)?.[1] ?? 0);
  const reqPerSec = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(stdout)?.[1] ?? 0);
  const durations = (await readFile(log, "utf8"))
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => Number(l.split("\t")[2]))
    .sort((a, b) => a - b);
  await rm(log, { force: true });
  const mean = durations.reduce((s, d) => s + d, 0) / Math.max(1, durations.length);
  const p50 = durations[Math.floor(durations.length / 2)] ?? 0;
  const p99 = durations[Math.min(durations.length - 1, Math.floor(durations.length * 0.99))] ?? 0;
  return { requests: o.requests, succeeded, reqPerSec, meanUs: mean, p50Us: p50, p99Us: p99 };
}
