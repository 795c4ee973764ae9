import { Command, CommanderError, Option } from "commander";
import { resolveConfig, type AgentConfig, type RawAgentOptions } from "./config.ts";

/**
 * `tei-node-agent`'s command line. Every flag has a TEI_FLEET_* environment twin (listed in
 * `--help`), which is how the systemd unit configures the agent.
 */

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** Builds the commander program (exported for `--help` tests). */
export function agentProgram(): Command {
  return new Command("tei-node-agent")
    .description("TEI Fleet node agent: registers a GPU host, runs and supervises its TEI processes.")
    .option("--control-plane <url>", "control plane base URL [env TEI_FLEET_CONTROL_PLANE]")
    .option("--node-name <name>", "this node's name [env TEI_FLEET_NODE_NAME]")
    .option("--advertise-address <ip>", "IP TEI binds and peers reach this node at [env TEI_FLEET_ADVERTISE_ADDRESS]")
    .option("--tei-binary <path>", "text-embeddings-router (gRPC build) [env TEI_FLEET_TEI_BINARY]")
    .option("--gpus <COUNTxMIB>", "declared GPUs, e.g. 2x81920; default: nvidia-smi [env TEI_FLEET_GPUS]")
    .option("--label <k=v>", "node label, repeatable [env TEI_FLEET_LABELS=k=v,k2=v2]", collect)
    .option("--listen <host:port>", "agent HTTP API (logs, metrics, healthz); default <advertise-address>:9101 [env TEI_FLEET_AGENT_LISTEN]")
    .option("--state-dir <dir>", "desired state, process records, TEI logs [env TEI_FLEET_STATE_DIR]")
    .option("--port-range <A-B>", "ports the control plane may give TEI instances, default 20000-20999 [env TEI_FLEET_PORT_RANGE]")
    .option("--pass-env <NAME|PREFIX*>", "environment passed to TEI besides the defaults, repeatable [env TEI_FLEET_PASS_ENV]", collect)
    .option("--stop-instances-on-exit <bool>", "stop TEI processes on SIGTERM (default true) [env TEI_FLEET_STOP_INSTANCES_ON_EXIT]")
    .option("--capacity <n>", "most TEI processes this node runs, default 64 [env TEI_FLEET_CAPACITY]")
    .option("--heartbeat-interval-ms <ms>", "override the control plane's heartbeat interval")
    .option("--probe-interval-ms <ms>", "liveness probe period, default 5000")
    .option("--probe-timeout-ms <ms>", "liveness probe deadline, default 5000")
    .option("--probe-failure-threshold <n>", "failed probes before unhealthy + restart, default 3")
    .option("--startup-timeout-secs <s>", "start-up timeout when the instance sets none, default 600")
    .option("--stop-grace-ms <ms>", "SIGTERM to SIGKILL grace, default 10000")
    .option("--unhealthy-drain-ms <ms>", "time an unhealthy replica is reported before its restart, default 2000")
    .option("--restart-backoff-initial-ms <ms>", "first restart delay, default 1000")
    .option("--restart-backoff-max-ms <ms>", "restart delay cap and crash_loop retry period, default 300000")
    .option("--crash-loop-failures <n>", "failures within the window that mean crash_loop, default 5")
    .option("--crash-loop-window-ms <ms>", "crash_loop window, default 600000")
    .option("--shutdown-drain-ms <ms>", "on SIGTERM, time between reporting replicas stopping and stopping them, default 2000")
    .addOption(new Option("--log-level <level>", "agent log level, default info [env TEI_FLEET_LOG_LEVEL]"))
    .addHelpText("after", "\nThe join token is read from TEI_FLEET_JOIN_TOKEN (never a flag).")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
}

/** Parses argv (as `process.argv`) and the environment into a validated configuration. */
export function parseAgentArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): AgentConfig {
  const program = agentProgram();
  program.parse([...argv]);
  return resolveConfig(program.opts<RawAgentOptions>(), env);
}

export { CommanderError };
