/**
 * The node agent's public entry: start an agent in-process, or use its building blocks (the TEI
 * command line, the process driver, the supervisor and the reconciler) directly.
 */
export { AGENT_VERSION, type NodeAgent, type NodeAgentDeps, startNodeAgent } from "./agent.ts";
export { type AssignmentReconciler, createAssignmentReconciler } from "./assignment-reconciler.ts";
export { parseAgentArgs } from "./cli.ts";
export { type AgentConfig, ConfigError, type RawAgentOptions, resolveConfig } from "./config.ts";
export { type GpuInfo, parseNvidiaSmiCsv, readGpuInventory, syntheticGpuUuid } from "./gpu-inventory.ts";
export { createInstanceLog } from "./instance-log.ts";
export { createInstanceSupervisor, type InstanceSupervisor, type SupervisorTiming } from "./instance-supervisor.ts";
export { createProcessDriver, type ProcessDriver, type ProcessExit, type ProcessHandle } from "./process-driver.ts";
export { createProcessStateStore } from "./process-state-file.ts";
export type { RestartPolicy } from "./restart-backoff.ts";
export { buildTeiArgs, TeiCommandError, validateExtraArgs } from "./tei-command.ts";
export { buildTeiEnv, DEFAULT_PASS_ENV } from "./tei-env.ts";
