#!/usr/bin/env node
/**
 * `tei-router`: the command line of the router. Parses flags with commander, validates them
 * with zod (config.ts), starts the router and stops it gracefully on SIGTERM/SIGINT; SIGHUP
 * re-reads a routes file.
 */
import { Command, InvalidArgumentError } from "commander";
import { parseRouterConfig } from "./config.ts";
import { createRouter } from "./server.ts";

function int(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a non-negative integer`);
  return Number(value);
}

const program = new Command()
  .name("tei-router")
  .description("Routes TEI's gRPC API (tei.v1.* and tei_multiplexer.v1.TeiMultiplexer) across a TEI Fleet.")
  .option("--listen <host:port>", "gRPC (h2c) listen address", "0.0.0.0:9001")
  .option("--control-plane <url>", "control plane URL to watch the route table from (join token: env TEI_FLEET_JOIN_TOKEN)")
  .option("--routes-file <file>", "static route table JSON instead of a control plane")
  .option("--metrics-listen <host:port>", "HTTP/1.1 address of /metrics, /healthz and /readyz", "0.0.0.0:9091")
  .option("--max-message-bytes <n>", "largest request message accepted", int, 4 * 1024 * 1024)
  .option("--eject-after <n>", "consecutive failures that eject a backend", int, 5)
  .option("--ejection-ms <ms>", "first ejection time (doubles on repeats, up to 10x)", int, 30_000)
  .option("--connect-timeout-ms <ms>", "time allowed to open a backend connection", int, 3000)
  .option("--backend-keepalive-ms <ms>", "PING a silent backend connection with open calls after this long; close it after twice (0: off)", int, 5000)
  .option("--max-concurrent-streams <n>", "concurrent calls per client connection", int, 1024)
  .option("--log-level <level>", "fatal|error|warn|info|debug|trace|silent", "info")
  .showHelpAfterError();

program.parse();
const o = program.opts<{
  listen: string;
  controlPlane?: string;
  routesFile?: string;
  metricsListen: string;
  maxMessageBytes: number;
  ejectAfter: number;
  ejectionMs: number;
  connectTimeoutMs: number;
  backendKeepaliveMs: number;
  maxConcurrentStreams: number;
  logLevel: string;
}>();

let config: ReturnType<typeof parseRouterConfig>;
try {
  config = parseRouterConfig({
    listen: o.listen,
    metricsListen: o.metricsListen,
    controlPlane: o.controlPlane,
    routesFile: o.routesFile,
    joinToken: process.env.TEI_FLEET_JOIN_TOKEN,
    maxMessageBytes: o.maxMessageBytes,
    ejectAfterFailures: o.ejectAfter,
    ejectionMs: o.ejectionMs,
    connectTimeoutMs: o.connectTimeoutMs,
    backendKeepaliveMs: o.backendKeepaliveMs,
    maxConcurrentStreams: o.maxConcurrentStreams,
    logLevel: o.logLevel as "info",
  });
} catch (err) {
  process.stderr.write(`tei-router: ${(err as Error).message}\n`);
  process.exit(2);
}

const router = createRouter(config);
try {
  await router.start();
} catch (err) {
  process.stderr.write(`tei-router: cannot start: ${(err as Error).message}\n`);
  process.exit(1);
}

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  router.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
process.on("SIGHUP", () => {
  router.reloadRoutesFile().catch((err: Error) => process.stderr.write(`tei-router: ${err.message}\n`));
});
