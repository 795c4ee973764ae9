/**
 * The node agent's public entry: start an agent in-process, or use its building blocks (the TEI
 * command line, the process driver, the supervisor and the reconciler) directly.
 */
export { startNodeAgent, AGENT_VERSION, type NodeAgent, type NodeAgentDeps } from "./agent.ts";
export { resolveConfig, ConfigError, type AgentConfig, type RawAgentOptions } from "./config.ts";
export { parseAgentArgs } from "./cli.ts";
export { buildTeiArgs, validateExtraArgs, TeiCommandError } from "./tei-command.ts";
export { buildTeiEnv, DEFAULT_PASS_ENV } from "./tei-env.ts";
export { readGpuInventory, parseNvidiaSmiCsv, syntheticGpuUuid, type GpuInfo } from "./gpu-inventory.ts";
export { createProcessDriver, type ProcessDriver, type ProcessHandle, type ProcessExit } from "./process-driver.ts";
export { createInstanceSupervisor, type InstanceSupervisor, type SupervisorTiming } from "./instance-supervisor.ts";
export { createAssignmentReconciler, type AssignmentReconciler } from "./assignment-reconciler.ts";
export { createProcessStateStore } from "./process-state-file.ts";
export { createInstanceLog } from "./instance-log.ts";
export type { RestartPolicy } from "./restart-backoff.ts";
