/**
 * TEI Fleet's shared rules: what more than one package applies lives here once, so that the
 * control plane and the node agent cannot disagree (they did: the API accepted `extra_args` the
 * agent refused, and node names followed three rules). No I/O and nothing but the generated
 * protos; each caller turns a refusal into its own error type. TEI's command line for a spec is
 * here (the agent runs it); the spec's schema, proto conversions and rules are the entry
 * `@tei-fleet/core/spec` (the API and `teictl` validate with it). The service kit (config,
 * logger, health, signals) is the separate entry `@tei-fleet/core/service`, the watch protocol's
 * watcher side (mirror, follower) `@tei-fleet/core/watch`.
 */

export { assignmentSpec, parseAssignmentJson, withAssignmentSpec, withLegacySpecFields } from "./assignment-json.ts";
export { type ExtraArgsProblem, type ExtraArgsProblemKind, findExtraArgsProblem } from "./extra-args.ts";
export { ANY_HOST, bracketHost, formatHostPort, HOST_PORT_RULE, type HostPort, parseHostPort } from "./host-port.ts";
export {
  AT_REST_PHASES,
  FAILING_PHASES,
  INSTANCE_STATUSES,
  type InstanceStatus,
  isFailingStatus,
  isInstanceStatus,
  REPLICA_PHASES,
  type ReplicaPhase,
  statusOf,
} from "./instance-status.ts";
export {
  instanceStatusFields,
  instanceStatusFromProto,
  instanceStatusToProto,
  isReplicaPhase,
  replicaPhaseFields,
  replicaPhaseFromProto,
  replicaPhaseToProto,
  reportedPhase,
} from "./instance-status-proto.ts";
export {
  INSTANCE_NAME_RULE,
  instanceNameProblem,
  isInstanceName,
  isNodeName,
  NAME_MAX_LENGTH,
  NODE_NAME_PATTERN,
  NODE_NAME_RULE,
} from "./names.ts";
export { type TeiCommandLine, type TeiCommandLineProblem, type TeiPlacement, teiCommandLine } from "./tei-command-line.ts";
export {
  EXITING_FLAGS,
  flagName,
  flagOf,
  MANAGED_FLAGS,
  POOLING_VALUES,
  REPEATABLE_FLAGS,
  SHORT_FLAG_ALIASES,
  TEI_SETTING_FLAGS,
} from "./tei-flags.ts";
