/**
 * TEI Fleet's shared rules: what more than one package applies lives here once, so that the
 * control plane and the node agent cannot disagree (they did: the API accepted `extra_args` the
 * agent refused, and node names followed three rules). No I/O, no dependencies; each caller turns
 * a refusal into its own error type. The service kit (config, logger, health, signals) is the
 * separate entry `@tei-fleet/core/service`, the watch protocol's watcher side (mirror, follower)
 * `@tei-fleet/core/watch`.
 */

export { type ExtraArgsProblem, type ExtraArgsProblemKind, findExtraArgsProblem } from "./extra-args.ts";
export { ANY_HOST, bracketHost, formatHostPort, HOST_PORT_RULE, type HostPort, parseHostPort } from "./host-port.ts";
export { INSTANCE_STATUSES, type InstanceStatus, REPLICA_PHASES, type ReplicaPhase } from "./instance-status.ts";
export {
  INSTANCE_NAME_RULE,
  instanceNameProblem,
  isInstanceName,
  isNodeName,
  NAME_MAX_LENGTH,
  NODE_NAME_PATTERN,
  NODE_NAME_RULE,
} from "./names.ts";
export {
  EXITING_FLAGS,
  flagName,
  flagOf,
  MANAGED_FLAGS,
  REPEATABLE_FLAGS,
  SHORT_FLAG_ALIASES,
} from "./tei-flags.ts";
