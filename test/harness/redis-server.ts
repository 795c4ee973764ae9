import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.ts";

/** A redis-server child process owned by a test or by the local fleet. */
export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** Stops it (SIGTERM) and removes its directory. */
  stop(): Promise<void>;
  /** Kills it with SIGKILL, keeping the port, so that restart() can bring it back on the same URL. */
  kill(): Promise<void>;
  /** Starts it again on the same port after stop() or kill(). */
  restart(): Promise<void>;
}

/** How to start a test redis-server. */
export interface RedisServerOptions {
  port?: number;
  /**
   * Keep data across kill() and restart() with an fsync'd append-only file, as production Redis
   * under BullMQ should run. Default: no persistence.
   */
  persistent?: boolean;
}

/**
 * Starts redis-server on a free port with a temporary directory, by default without persistence, with
 * `noeviction` (the only policy BullMQ is correct under), and waits until it accepts connections.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), "tei-fleet-redis-"));
  const persistence = options.persistent ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"];
  let child: ChildProcess | undefined = await launch(port, dir, persistence);

  const terminate = async (signal: NodeJS.Signals) => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((resolve) => c.once("exit", resolve));
    c.kill(signal);
    await exited;
  };

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      await terminate("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    },
    kill: () => terminate("SIGKILL"),
    async restart() {
      await terminate("SIGTERM");
      child = await launch(port, dir, persistence);
    },
  };
}

function launch(port: number, dir: string, persistence: string[]): Promise<ChildProcess> {
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", ...persistence, "--maxmemory-policy", "noeviction", "--dir", dir],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  return new Promise((resolve, reject) => {
    let output = "";
    let ready = false;
    const fail = (err: Error) => {
      if (!ready) {
        ready = true;
        clearTimeout(timer);
        reject(err);
      }
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`redis-server did not start:\n${output}`));
    }, 10_000);
    child.once("error", fail);
    child.once("exit", (code) => fail(new Error(`redis-server exited ${code}:\n${output}`)));
    const collect = (chunk: Buffer) => {
      if (ready) return;
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) {
        ready = true;
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
  });
}
