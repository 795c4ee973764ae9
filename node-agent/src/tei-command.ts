/**
 * The agent's side of TEI's command line: @tei-fleet/core builds it from the assignment's spec
 * (tei-command-line.ts, with the flag tables of tei-flags.ts, shared with the control plane's
 * validation); this file turns core's refusals into the agent's error type.
 */
import { findExtraArgsProblem, type TeiPlacement, teiCommandLine } from "@tei-fleet/core";
import type { InstanceSpec } from "@tei-fleet/proto/fleet/v1";

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
 * twice. Throws a {@link TeiCommandError} naming the flag as the user spelt it.
 */
export function validateExtraArgs(extraArgs: readonly string[]): void {
  const problem = findExtraArgsProblem(extraArgs);
  if (problem !== undefined) throw new TeiCommandError(problem.message, problem.spelling);
}

/**
 * Builds TEI's argument vector (without the binary) for a spec placed on this node: managed
 * flags first in a fixed order, then the spec's settings, then the checked extra arguments
 * verbatim. Throws a {@link TeiCommandError}.
 */
export function buildTeiArgs(spec: InstanceSpec, placement: TeiPlacement): string[] {
  const line = teiCommandLine(spec, placement);
  if (!line.ok) throw new TeiCommandError(line.problem.message, line.problem.flag);
  return line.args;
}
