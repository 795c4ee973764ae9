/**
 * The naming rules of TEI Fleet: what a node and an instance may be called. Each rule is a
 * predicate plus the message that explains it; callers turn a refusal into their own error (the
 * agent's ConfigError, a Connect INVALID_ARGUMENT, the REST API's 400), so every surface refuses
 * the same names with the same words.
 */

/** Longest node name and longest instance name: a DNS label's 63 characters. */
export const NAME_MAX_LENGTH = 63;

/**
 * A node name (as a pattern, for schemas; {@link isNodeName} to test): 1-63 ASCII letters, digits, '.', '_' or '-', starting and ending with a letter or
 * digit. Wide enough for host names as operators write them (`gpu_01`, `GPU-1.rack2`), narrow
 * enough to be safe wherever a node name goes: Redis keys and pub/sub messages (no ':', '{' or
 * '}'), URL paths (`/nodes/:name`: no '/', nothing to escape), file names (the agent's default
 * state directory: never '.' or '..'), logs and metric labels (no whitespace or control
 * characters).
 *
 * Node names are case-sensitive and compared exactly, never folded: `GPU-1` and `gpu-1` are two
 * nodes, and a spec's `node` must match the registered name letter for letter. Folding would
 * silently rename agents that registered before, whose names are in Redis keys as written.
 */
export const NODE_NAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

/** The node-name rule in words, for messages: "… must be " + this. */
export const NODE_NAME_RULE = "1-63 letters, digits, '.', '_' or '-', starting and ending with a letter or digit";

/** True when `name` may name a node: what an agent may register as and a spec may pin to. */
export function isNodeName(name: string): boolean {
  return NODE_NAME_PATTERN.test(name);
}

/**
 * An instance name: a lowercase DNS label (RFC 1123, as Kubernetes names), at most 63
 * characters. Instance names end up in more places than node names (assignment ids
 * `<name>-<index>-r<revision>`, routers' `x-tei-instance`, TEI processes' log file names), and
 * tei-manager already used this rule, so existing scripts keep working.
 */
const INSTANCE_NAME = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;

/** The instance-name rule in words, for messages. */
export const INSTANCE_NAME_RULE = "a lowercase DNS label: a-z, 0-9 and '-', starting and ending with a letter or digit";

/** True when `name` may name an instance. */
export function isInstanceName(name: string): boolean {
  return name.length <= NAME_MAX_LENGTH && INSTANCE_NAME.test(name);
}

/**
 * Why `name` may not name an instance, as one sentence, or undefined when it may. A path
 * separator and a name that is too long get their own sentence: those are the two mistakes
 * people make (`org/model` copied from a model id, a generated name).
 */
export function instanceNameProblem(name: string): string | undefined {
  if (name.includes("/") || name.includes("\\")) {
    return `instance name ${JSON.stringify(name)} must not contain path separators ('/' or '\\')`;
  }
  if (name.length > NAME_MAX_LENGTH) return `instance name must be at most ${NAME_MAX_LENGTH} characters (got ${name.length})`;
  if (!INSTANCE_NAME.test(name)) return `instance name ${JSON.stringify(name)} must be ${INSTANCE_NAME_RULE}`;
  return undefined;
}
