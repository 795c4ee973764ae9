#!/usr/bin/env node
/**
 * `tei-control-plane`: the fleet's control plane process. REST (tei-manager compatible) and
 * Connect/gRPC/gRPC-web on one port, desired state in Redis, the scheduler in-process. Started
 * with the service kit: a bad setting exits 2 naming it, SIGTERM/SIGINT close gracefully (exit
 * codes: `EXIT_CODES` in `@tei-fleet/core/service`).
 */
import { createLogger, EXIT_CODES, handleShutdownSignals, loadServiceConfig } from "@tei-fleet/core/service";
import { CONTROL_PLANE_OPTIONS, loadConfig } from "./config.ts";
import type { ControlPlane } from "./server/control-plane.ts";

/** Connections still open this long after SIGTERM are not waited for. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

const config = loadServiceConfig(
  {
    name: "tei-control-plane",
    description: "TEI Fleet control plane: instance API (REST + Connect), placement, node registry.",
    options: CONTROL_PLANE_OPTIONS,
    epilog: "Tokens are environment-only (flags show in `ps`) and at least 16 characters; a generated admin token is printed once to stderr.",
  },
  { resolve: loadConfig },
);
const logger = createLogger("tei-control-plane", config.logLevel);

// Imported after the configuration is known to be valid: a bad flag fails fast.
const { startControlPlane } = await import("./server/control-plane.ts");
let controlPlane: ControlPlane;
try {
  controlPlane = await startControlPlane({
    redisUrl: config.redisUrl,
    prefix: config.prefix,
    host: config.listen.host,
    port: config.listen.port,
    dataDir: config.dataDir,
    adminToken: config.adminToken,
    readToken: config.readToken,
    joinToken: config.joinToken,
    secrets: config.secrets,
    maxInstances: config.maxInstances,
    logger,
    scheduler: config.scheduler,
  });
} catch (err) {
  process.stderr.write(`tei-control-plane: could not start: ${(err as Error).message}\n`);
  process.exit(EXIT_CODES.failure);
}

handleShutdownSignals({ logger, close: () => controlPlane.close(), timeoutMs: SHUTDOWN_TIMEOUT_MS });
