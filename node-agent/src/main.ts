#!/usr/bin/env node
import { createLogger, EXIT_CODES, handleShutdownSignals, loadServiceConfig } from "@tei-fleet/core/service";
import { AGENT_COMMAND } from "./cli.ts";
import { resolveConfig } from "./config.ts";

/**
 * `tei-node-agent`: read the configuration (exit 2 naming the flag and variable when it is bad),
 * log JSON to stderr, start the agent, and shut down gracefully on SIGTERM/SIGINT (exit codes:
 * `EXIT_CODES` in `@tei-fleet/core/service`).
 */

const config = loadServiceConfig(AGENT_COMMAND, { resolve: resolveConfig });
const logger = createLogger("tei-node-agent", config.logLevel, { bindings: { node: config.nodeName } });

// Loaded after the configuration is known to be good, so a bad flag is reported without delay.
const { startNodeAgent } = await import("./agent.ts");
let agent: Awaited<ReturnType<typeof startNodeAgent>>;
try {
  agent = await startNodeAgent(config, { logger });
} catch (error) {
  logger.fatal({ err: error }, "the agent could not start");
  process.exit(EXIT_CODES.failure);
}
logger.info(
  { controlPlane: config.controlPlaneUrl, stateDir: config.stateDir, url: agent.url, stopInstancesOnExit: config.stopInstancesOnExit },
  "tei-node-agent started",
);

handleShutdownSignals({ logger, close: () => agent.shutdown() });
