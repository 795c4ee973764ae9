/**
 * nginx as the reference gRPC proxy: Debian's nginx, one worker, `grpc_pass` to a keepalive
 * upstream, configured in a temporary prefix and run in the foreground as a child process.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** A running nginx. */
export interface Nginx {
  readonly port: number;
  /** The master's pid (the single worker is its child). */
  readonly pid: number;
  stop(): Promise<void>;
}

/** Writes the config under `dir` and starts nginx proxying 127.0.0.1:port to `upstream`. */
export async function startNginx(dir: string, port: number, upstream: string): Promise<Nginx> {
  await mkdir(join(dir, "logs"), { recursive: true });
  const conf = join(dir, "nginx.conf");
  await writeFile(
    conf,
    `worker_processes 1;
error_log ${join(dir, "logs/error.log")} warn;
pid ${join(dir, "nginx.pid")};
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, "body")};
  upstream tei { server ${upstream}; keepalive 64; }
  server {
    listen 127.0.0.1:${port} http2;
    http2_max_concurrent_streams 1024;
    location / { grpc_pass grpc://tei; }
  }
}
`,
  );
  const child: ChildProcess = spawn("nginx", ["-p", dir, "-c", conf, "-g", "daemon off;"], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  // nginx has no readiness line; give it a moment and check it did not die.
  await new Promise((r) => setTimeout(r, 300));
  if (child.exitCode !== null) throw new Error(`nginx exited at start: ${err}`);
  return {
    port,
    pid: child.pid ?? 0,
    async stop() {
      if (child.exitCode === null) child.kill("SIGQUIT");
      await exited;
    },
  };
}
