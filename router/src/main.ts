#!/usr/bin/env node
/**
 * `tei-router`: started like every TEI Fleet service, with the service kit
 * (`@tei-fleet/core/service`). The configuration comes from flags and their `TEI_FLEET_*` twins
 * (cli.ts; a bad setting exits 2 naming the flag and the variable), logs are the kit's JSON lines
 * on stderr with tokens redacted, SIGTERM/SIGINT stop gracefully (open calls get the grace
 * period; exit codes: `EXIT_CODES`), and SIGHUP re-reads a routes file and an API keys file.
 */
import { BatchedLogDestination, createLogger, EXIT_CODES, handleShutdownSignals, loadServiceConfig } from "@tei-fleet/core/service";
import { ROUTER_COMMAND, resolveRouterConfig } from "./cli.ts";
import { collectStartupGarbage, disableMemoryReducer } from "./process-tuning.ts";
import type { Router } from "./server.ts";

/** Beyond the grace period for open calls, what closing the rest may take before exit 1. */
const CLOSE_MARGIN_MS = 5_000;

disableMemoryReducer();

const config = loadServiceConfig(ROUTER_COMMAND, { resolve: resolveRouterConfig });
const logger = createLogger("tei-router", config.logLevel);
// The whole configuration at debug: the kit's redaction censors `config.joinToken`.
logger.debug({ config }, "configuration");

// Loaded after the configuration is known to be good, so a bad flag is reported without delay.
const { createRouter } = await import("./server.ts");
// The gateway's access log: one line per request, written in batches of whole lines (at most
// 4 KiB or 1 s old) instead of a system call per request (~25 µs of latency at concurrency 1).
const requestLog = createLogger("tei-router", config.logLevel, { destination: new BatchedLogDestination() });
const router: Router = createRouter(config, {
  log: logger,
  requestLog,
  onReady: () => logger.debug({ pauseMs: Math.round(collectStartupGarbage()) }, "start-up garbage collected"),
});
try {
  await router.start();
} catch (err) {
  logger.fatal({ err }, "the router could not start");
  process.exit(EXIT_CODES.failure);
}

handleShutdownSignals({ logger, close: () => router.stop(), timeoutMs: config.shutdownGraceMs + CLOSE_MARGIN_MS });
process.on("SIGHUP", () => {
  router.reloadApiKeysFile().then(
    () =>
      config.apiKeysFile !== undefined &&
      logger.info({ apiKeysFile: config.apiKeysFile, apiKeys: router.admission.keys.size }, "API keys file re-read (SIGHUP)"),
    (err: Error) => logger.error({ err, apiKeysFile: config.apiKeysFile }, "API keys file not re-read; the keys in use are kept"),
  );
  if (config.routesFile === undefined) return; // the route table comes from the control plane
  router.reloadRoutesFile().then(
    () => logger.info({ routesFile: config.routesFile }, "routes file re-read (SIGHUP)"),
    (err: Error) => logger.error({ err, routesFile: config.routesFile }, "routes file not re-read; the table in use is kept"),
  );
});
