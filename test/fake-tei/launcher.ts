/**
 * Starts the fake TEI as a real child process for tests and benchmarks, the way a supervisor
 * would: through bin/text-embeddings-router, with a clean environment, on free ports, waiting
 * until grpc.health reports the model's service SERVING. Collects its output for assertions.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "@tei-fleet/proto/grpc/health/v1";
import { freePort } from "../harness/free-port.ts";

/** Absolute path of the fake `text-embeddings-router` executable. */
export const FAKE_TEI_BIN = fileURLToPath(new URL("./bin/text-embeddings-router", import.meta.url));

/** How a process ended. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Options of startFakeTei; every one has a default. */
export interface FakeTeiOptions {
  /** --model-id (default BAAI/bge-small-en-v1.5); null omits the flag. */
  modelId?: string | null;
  /** --hostname (default 127.0.0.1). */
  host?: string;
  /** --port (default: a free port). */
  port?: number;
  /** --prometheus-port (default: a free port). */
  prometheusPort?: number;
  /** Extra arguments appended after the defaults. */
  args?: string[];
  /** Environment added to the clean one (PATH and HOME only). */
  env?: Record<string, string>;
  /** Wait for this grpc.health service to be SERVING (default: by model type; null: don't wait). */
  waitFor?: string | null;
  /** Start-up timeout (default 10 s). */
  timeoutMs?: number;
}

/** A running fake TEI. */
export interface FakeTei {
  pid: number;
  host: string;
  port: number;
  prometheusPort: number;
  /** `http://host:port`. */
  baseUrl: string;
  /** A gRPC transport to it (HTTP/2, one connection). */
  transport: Transport;
  child: ChildProcess;
  /** stdout and stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  exited: Promise<ExitStatus>;
  /** Sends a signal (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<ExitStatus>;
}

/** The grpc.health service that tells a model is ready (tei.md §6.3). */
function readinessService(modelId: string | null): string {
  if (modelId && /reranker/i.test(modelId)) return "tei.v1.Rerank";
  if (modelId && /go_emotions/i.test(modelId)) return "tei.v1.Predict";
  return "tei.v1.Embed";
}

/** Spawns the executable with exactly `args` and a clean environment plus `env`; no waiting. */
export function spawnFakeTei(
  args: string[],
  env: Record<string, string> = {},
): {
  child: ChildProcess;
  exited: Promise<ExitStatus>;
  stdout(): string;
  stderr(): string;
} {
  const child = spawn(FAKE_TEI_BIN, args, {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<ExitStatus>((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
  return { child, exited, stdout: () => out, stderr: () => err };
}

/** Starts a fake TEI and waits until it is ready (see FakeTeiOptions). */
export async function startFakeTei(options: FakeTeiOptions = {}): Promise<FakeTei> {
  const modelId = options.modelId === undefined ? "BAAI/bge-small-en-v1.5" : options.modelId;
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? (await freePort());
  const prometheusPort = options.prometheusPort ?? (await freePort());
  const args = [
    ...(modelId === null ? [] : ["--model-id", modelId]),
    "--hostname",
    host,
    "--port",
    String(port),
    "--prometheus-port",
    String(prometheusPort),
    ...(options.args ?? []),
  ];
  const proc = spawnFakeTei(args, options.env);
  const baseUrl = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const transport = createGrpcTransport({ baseUrl });
  const tei: FakeTei = {
    pid: proc.child.pid as number,
    host,
    port,
    prometheusPort,
    baseUrl,
    transport,
    child: proc.child,
    stdout: proc.stdout,
    stderr: proc.stderr,
    exited: proc.exited,
    async stop(signal = "SIGTERM") {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal);
      return proc.exited;
    },
  };
  const waitFor = options.waitFor === undefined ? readinessService(modelId) : options.waitFor;
  if (waitFor === null) return tei;

  const health = createClient(Health, transport);
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let exit: ExitStatus | undefined;
  void proc.exited.then((e) => (exit = e));
  for (;;) {
    if (exit) throw new Error(`fake TEI exited during start-up (${JSON.stringify(exit)}): ${proc.stderr()}`);
    try {
      const res = await health.check({ service: waitFor }, { timeoutMs: 500 });
      if (res.status === HealthCheckResponse_ServingStatus.SERVING) return tei;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await tei.stop("SIGKILL");
      throw new Error(`fake TEI not ready after ${options.timeoutMs ?? 10_000} ms: ${proc.stdout()}${proc.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
