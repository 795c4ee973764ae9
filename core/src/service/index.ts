/**
 * The service kit (`@tei-fleet/core/service`): how every TEI Fleet process is started the same
 * way. Configuration from a declarative option table (flags, `TEI_FLEET_*` environment twins,
 * generated `--help`, exit 2 naming a bad setting), one logger setup, the `/healthz`, `/readyz`
 * and `/metrics` endpoints (on a small server of their own, or on a service's Fastify app), and
 * signal handling with documented exit codes. Unlike the rules in `@tei-fleet/core`, this part
 * does I/O and has dependencies (commander, zod, pino, prom-client), so it is a separate entry.
 */

export { BatchedLogDestination, type BatchedLogOptions } from "./batched-log-destination.ts";
export { buildCommand, type CommandSpec, parseFlags } from "./command-line.ts";
export { ConfigError, type ConfigProblem } from "./config-error.ts";
export { type ConfigOption, type ConfigValues, type Environment, type FlagValues, type OptionTable, resolveOptions, settingName } from "./config-option.ts";
export { EXIT_CODES, signalExitCode } from "./exit-codes.ts";
export { type Check, type CheckResult, type HealthEndpoint, type HealthOptions, type HttpAnswer, healthEndpoints } from "./health-checks.ts";
export { addHealthRoutes, type ReplyLike, type RouteHost } from "./health-routes.ts";
export { type HealthServer, type HealthServerOptions, startHealthServer } from "./health-server.ts";
export { createLogger, type LoggerOptions, REDACTED, REDACTED_PATHS } from "./logger.ts";
export { booleanText, fromParser, hostPort, httpUrl, integer, LOG_LEVELS, type LogLevel, logLevel } from "./option-schemas.ts";
export { type LoadOptions, loadServiceConfig } from "./service-config.ts";
export { handleShutdownSignals, type ShutdownOptions } from "./shutdown-signals.ts";
