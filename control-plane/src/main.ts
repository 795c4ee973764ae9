#!/usr/bin/env node
/**
 * `tei-control-plane`: the fleet's control plane process. REST (tei-manager compatible) and
 * Connect/gRPC/gRPC-web on one port, desired state in Redis, the scheduler in-process.
 */
import { Command } from "commander";
import { loadConfig, type CliFlags } from "./config.ts";
import type { ControlPlane } from "./server/control-plane.ts";

const program = new Command("tei-control-plane")
  .description("TEI Fleet control plane: instance API (REST + Connect), placement, node registry.")
  .option("--listen <host:port>", "address of the API (REST over HTTP/1.1 and h2c, Connect, gRPC, gRPC-web) [env TEI_FLEET_LISTEN, default 0.0.0.0:9000]")
  .option("--redis <url>", "Redis URL [env TEI_FLEET_REDIS_URL, default redis://127.0.0.1:6379]")
  .option("--prefix <prefix>", "Redis key prefix [env TEI_FLEET_PREFIX, default tf]")
  .option("--data-dir <dir>", "where a generated admin token is kept [env TEI_FLEET_DATA_DIR, default ~/.tei-fleet/control-plane]")
  .option("--max-instances <n>", "most instances the fleet holds [env TEI_FLEET_MAX_INSTANCES, default 1000]")
  .option("--log-level <level>", "fatal|error|warn|info|debug|trace [env TEI_FLEET_LOG_LEVEL, default info]")
  .addHelpText("after", "\nTokens (environment only, never flags): TEI_FLEET_ADMIN_TOKEN (generated at first start when unset),\nTEI_FLEET_READ_TOKEN (GET only), TEI_FLEET_JOIN_TOKEN (node agents and routers).\nScheduler timings (env, ms): TEI_FLEET_HEARTBEAT_INTERVAL_MS, TEI_FLEET_HEARTBEAT_TTL_MS,\nTEI_FLEET_RECONCILE_INTERVAL_MS, TEI_FLEET_LIVENESS_INTERVAL_MS, TEI_FLEET_ROUTE_GRACE_MS,\nTEI_FLEET_LOST_NODE_RETENTION_MS (lost nodes are forgotten after this long; default 24 h, 0 = never).")
  .parse();

let config;
try {
  config = loadConfig(program.opts<CliFlags>());
} catch (err) {
  process.stderr.write(`tei-control-plane: ${(err as Error).message}\n`);
  process.exit(2);
}

// Imported after the configuration is known to be valid: a bad flag fails fast.
const { startControlPlane } = await import("./server/control-plane.ts");
let controlPlane: ControlPlane;
try {
  controlPlane = await startControlPlane({
    redisUrl: config.redisUrl, prefix: config.prefix, host: config.listen.host, port: config.listen.port,
    dataDir: config.dataDir, adminToken: config.adminToken, readToken: config.readToken, joinToken: config.joinToken,
    maxInstances: config.maxInstances, logLevel: config.logLevel, scheduler: config.scheduler,
  });
} catch (err) {
  process.stderr.write(`tei-control-plane: could not start: ${(err as Error).message}\n`);
  process.exit(1);
}

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`tei-control-plane: ${signal}, shutting down\n`);
  const force = setTimeout(() => process.exit(1), 10_000);
  force.unref();
  controlPlane.close().then(() => process.exit(0), () => process.exit(1));
};
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));
