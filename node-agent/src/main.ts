#!/usr/bin/env node
import { pino } from "pino";
import { CommanderError, parseAgentArgs } from "./cli.ts";
import { ConfigError, type AgentConfig } from "./config.ts";

/**
 * `tei-node-agent`: parse the configuration (exit 2 with a message naming the flag when it is
 * bad), log JSON to stdout, start the agent, and shut down gracefully on SIGTERM/SIGINT.
 */

let config: AgentConfig;
try {
  config = parseAgentArgs(process.argv, process.env);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
  if (error instanceof ConfigError) {
    process.stderr.write(`tei-node-agent: invalid configuration: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}

const logger = pino({ level: config.logLevel, base: { service: "tei-node-agent", node: config.nodeName } });

// Loaded after the configuration is known to be good, so a bad flag is reported without delay.
const { startNodeAgent } = await import("./agent.ts");
let agent: Awaited<ReturnType<typeof startNodeAgent>>;
try {
  agent = await startNodeAgent(config, { logger });
} catch (error) {
  logger.fatal({ err: error }, "the agent could not start");
  process.exit(1);
}
logger.info({ controlPlane: config.controlPlaneUrl, stateDir: config.stateDir, url: agent.url }, "tei-node-agent started");

let signals = 0;
const onSignal = (signal: NodeJS.Signals) => {
  signals += 1;
  if (signals > 1) {
    logger.warn({ signal }, "second signal: exiting at once");
    process.exit(1);
  }
  logger.info({ signal, stopInstances: config.stopInstancesOnExit }, "shutting down");
  agent.shutdown().then(
    () => process.exit(0),
    (error: unknown) => {
      logger.error({ err: error }, "shutdown failed");
      process.exit(1);
    },
  );
};
process.on("SIGTERM", onSignal);
process.on("SIGINT", onSignal);
