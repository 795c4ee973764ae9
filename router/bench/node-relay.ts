/**
 * The least a Node process can do on the proxied path: a TCP relay that copies bytes between
 * each client connection and its own backend connection, with no HTTP/2 parsing, routing,
 * admission or metrics. The router bench runs it beside nginx as the runtime's floor: what it
 * adds at concurrency 1 is the cost of being a Node event loop at all (a libuv wake-up and a
 * JavaScript callback per read on each side), which the router cannot go below.
 *
 * Run as a script: `node node-relay.ts LISTEN_PORT UPSTREAM_HOST:PORT`; it prints "relay ready".
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect, createServer } from "node:net";
import { fileURLToPath } from "node:url";

/** A running relay. */
export interface NodeRelay {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts the relay as a child process listening on 127.0.0.1:`port`, forwarding to `upstream`. */
export async function startNodeRelay(port: number, upstream: string): Promise<NodeRelay> {
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(import.meta.url), String(port), upstream], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`node relay exited with ${code} at start`)));
  });
  return {
    port,
    pid: child.pid ?? 0,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

function relay(listenPort: number, upstream: string): void {
  const colon = upstream.lastIndexOf(":");
  const host = upstream.slice(0, colon);
  const upstreamPort = Number(upstream.slice(colon + 1));
  const server = createServer({ noDelay: true }, (client) => {
    const backend = connect({ host, port: upstreamPort, noDelay: true });
    client.on("data", (d) => backend.write(d));
    backend.on("data", (d) => client.write(d));
    client.on("close", () => backend.destroy());
    backend.on("close", () => client.destroy());
    client.on("error", () => {});
    backend.on("error", () => {});
  });
  server.listen(listenPort, "127.0.0.1", () => process.stdout.write("relay ready\n"));
  process.once("SIGTERM", () => process.exit(0));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) relay(Number(process.argv[2]), process.argv[3] ?? "");
