/**
 * The one place where TEI's command line is built. tei-manager's worst bug was passing
 * `--prometheus-port` twice (TEI's clap parser exits 2 on any repeated single-value flag), so every
 * flag the agent manages appears exactly once, and the user's `extra_args` may neither repeat one
 * of them nor repeat a flag of their own.
 */

/** What the agent needs from an assignment to build TEI's command line. */
export interface TeiCommandSpec {
  modelId: string;
  port: number;
  prometheusPort: number;
  /** TEI's `--hostname`: the node's advertise address (an IP, as TEI requires). */
  hostname: string;
  maxBatchTokens?: number;
  maxConcurrentRequests?: number;
  pooling?: string;
  extraArgs: readonly string[];
}

/**
 * Flags the agent sets itself, with their short aliases. `--help` and `--version` are here too:
 * they make TEI print and exit 0, which would look like a crash loop.
 */
export const MANAGED_TEI_FLAGS: ReadonlyMap<string, string> = new Map([
  ["--model-id", "--model-id"],
  ["--port", "--port"],
  ["-p", "--port"],
  ["--prometheus-port", "--prometheus-port"],
  ["--hostname", "--hostname"],
  ["--max-batch-tokens", "--max-batch-tokens"],
  ["--max-concurrent-requests", "--max-concurrent-requests"],
  ["--pooling", "--pooling"],
  ["--json-output", "--json-output"],
  ["--help", "--help"],
  ["-h", "--help"],
  ["--version", "--version"],
  ["-V", "--version"],
]);

/** TEI flags that clap collects into a list, so they may legitimately repeat. */
const REPEATABLE_TEI_FLAGS = new Set(["--cors-allow-origin"]);

/** TEI's accepted `--pooling` values (tei.md §2). */
export const TEI_POOLING_VALUES = ["cls", "mean", "splade", "last-token"] as const;

/** An `extra_args` list or a managed value that cannot be passed to TEI. */
export class TeiCommandError extends Error {
  /** The offending flag, when there is one. */
  readonly flag: string | undefined;
  constructor(message: string, flag?: string) {
    super(message);
    this.name = "TeiCommandError";
    this.flag = flag;
  }
}

/**
 * Returns the flag name of a command-line token (`--port=1` → `--port`, `-p8080` → `-p`), or
 * `undefined` for a value. A lone `-` or a negative number is a value, not a flag.
 */
export function flagName(token: string): string | undefined {
  if (token.startsWith("--")) {
    if (token.length === 2) return undefined;
    const eq = token.indexOf("=");
    return eq === -1 ? token : token.slice(0, eq);
  }
  if (/^-[A-Za-z]/.test(token)) return token.slice(0, 2);
  return undefined;
}

/**
 * Checks the user's extra arguments: no managed flag (in `--flag value`, `--flag=value` or short
 * form) and no flag twice. Throws a {@link TeiCommandError} naming the flag.
 */
export function validateExtraArgs(extraArgs: readonly string[]): void {
  const seen = new Set<string>();
  for (const token of extraArgs) {
    if (token.includes("\0")) throw new TeiCommandError("extra_args contains a NUL character");
    const name = flagName(token);
    if (name === undefined) continue;
    const managed = MANAGED_TEI_FLAGS.get(name);
    if (managed !== undefined) {
      const why = managed === "--help" || managed === "--version"
        ? "it makes TEI print and exit instead of serving"
        : "the agent sets it from the instance definition";
      throw new TeiCommandError(`extra_args must not contain ${name} (${token}): ${why}`, name);
    }
    if (seen.has(name) && !REPEATABLE_TEI_FLAGS.has(name)) {
      throw new TeiCommandError(
        `extra_args contains ${name} more than once; TEI exits 2 when a flag is repeated`,
        name,
      );
    }
    seen.add(name);
  }
}

/**
 * Builds TEI's argument vector (without the binary). Managed flags come first in a fixed order,
 * then the validated extra arguments verbatim.
 */
export function buildTeiArgs(spec: TeiCommandSpec): string[] {
  if (spec.modelId.trim() === "") throw new TeiCommandError("model_id is empty", "--model-id");
  if (spec.modelId.startsWith("-")) {
    throw new TeiCommandError(`model_id ${JSON.stringify(spec.modelId)} looks like a flag`, "--model-id");
  }
  checkPort(spec.port, "--port");
  checkPort(spec.prometheusPort, "--prometheus-port");
  if (spec.port === spec.prometheusPort) {
    throw new TeiCommandError(`--port and --prometheus-port are both ${spec.port}`, "--prometheus-port");
  }
  if (spec.pooling !== undefined && !(TEI_POOLING_VALUES as readonly string[]).includes(spec.pooling)) {
    throw new TeiCommandError(
      `pooling ${JSON.stringify(spec.pooling)} is not one of ${TEI_POOLING_VALUES.join(", ")}`,
      "--pooling",
    );
  }
  validateExtraArgs(spec.extraArgs);

  const args = [
    "--model-id", spec.modelId,
    "--port", String(spec.port),
    "--prometheus-port", String(spec.prometheusPort),
    "--hostname", spec.hostname,
  ];
  if (spec.maxBatchTokens !== undefined) args.push("--max-batch-tokens", String(spec.maxBatchTokens));
  if (spec.maxConcurrentRequests !== undefined) {
    args.push("--max-concurrent-requests", String(spec.maxConcurrentRequests));
  }
  if (spec.pooling !== undefined) args.push("--pooling", spec.pooling);
  // JSON logs let the agent parse levels and messages (CPU fallback, Ready) reliably.
  args.push("--json-output");
  args.push(...spec.extraArgs);
  return args;
}

function checkPort(port: number, flag: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TeiCommandError(`${flag} ${port} is not a TCP port (1-65535)`, flag);
  }
}
