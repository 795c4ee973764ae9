/**
 * The one place where TEI's command line is built. tei-manager's worst bug was passing
 * `--prometheus-port` twice (TEI's clap parser exits 2 on any repeated single-value flag), so every
 * flag the agent manages appears exactly once, and the user's `extra_args` may neither repeat one
 * of them nor repeat a flag of their own. Which flags those are is @tei-fleet/core's (tei-flags.ts),
 * shared with the control plane's validation.
 */
import { findExtraArgsProblem } from "@tei-fleet/core";

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
 * Checks the user's extra arguments with the rule the control plane applied when the spec was
 * written (@tei-fleet/core's `findExtraArgsProblem`): no control characters, no flag the fleet
 * passes itself or that makes TEI exit (in `--flag value`, `--flag=value` or short form), no flag
 * twice. Checked again here because an assignment may carry a spec stored before the rule
 * tightened, or come from an older control plane. Throws a {@link TeiCommandError} naming the
 * flag as the user spelt it.
 */
export function validateExtraArgs(extraArgs: readonly string[]): void {
  const problem = findExtraArgsProblem(extraArgs);
  if (problem !== undefined) throw new TeiCommandError(problem.message, problem.spelling);
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
    throw new TeiCommandError(`pooling ${JSON.stringify(spec.pooling)} is not one of ${TEI_POOLING_VALUES.join(", ")}`, "--pooling");
  }
  validateExtraArgs(spec.extraArgs);

  const args = ["--model-id", spec.modelId, "--port", String(spec.port), "--prometheus-port", String(spec.prometheusPort), "--hostname", spec.hostname];
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
