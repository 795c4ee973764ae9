import { type CommandSpec, type Environment, parseFlags } from "@tei-fleet/core/service";
import { AGENT_OPTIONS, type AgentConfig, resolveConfig } from "./config.ts";

/**
 * `tei-node-agent`'s command line, generated from the option table: every flag has a TEI_FLEET_*
 * environment twin (listed in `--help`), which is how the systemd unit configures the agent.
 */

/** The agent's command: name, description and settings. */
export const AGENT_COMMAND: CommandSpec<typeof AGENT_OPTIONS> = {
  name: "tei-node-agent",
  description: "TEI Fleet node agent: registers a GPU host, runs and supervises its TEI processes.",
  options: AGENT_OPTIONS,
};

/**
 * Parses argv (as `process.argv`) and the environment into a validated configuration.
 *
 * @throws CommanderError for `--help` or an unknown flag, ConfigError for a bad setting
 */
export function parseAgentArgs(argv: readonly string[], env: Environment): AgentConfig {
  return resolveConfig(parseFlags(AGENT_COMMAND, argv), env);
}
