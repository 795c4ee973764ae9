/**
 * TEI flags the fleet sets itself. A user's `extra_args` may not set them: TEI (clap) exits 2 when
 * a single-value flag appears twice, which is how tei-manager's worst bug showed up (every instance
 * crashing on a doubled `--prometheus-port`). Refusing them at the API means a managed flag is
 * never passed to TEI twice.
 */
export const MANAGED_FLAGS = ["--model-id", "--port", "--prometheus-port", "--hostname"] as const;

/** Short aliases TEI accepts for managed flags (`-p` is `--port`). */
const SHORT_ALIASES: Record<string, string> = { "-p": "--port" };

/**
 * Flags that a spec field also sets. They are refused in `extra_args` too, because the agent
 * passes the field's value (or TEI's default for it) and the flag would then appear twice.
 */
export const FIELD_FLAGS: Record<string, string> = {
  "--max-batch-tokens": "max_batch_tokens",
  "--max-concurrent-requests": "max_concurrent_requests",
  "--pooling": "pooling",
};

/** Flags TEI lets repeat (clap `ArgAction::Append`). Every other flag may appear once. */
const REPEATABLE_FLAGS = new Set(["--cors-allow-origin"]);

/** A problem found in `extra_args`: the message and the offending flag. */
export interface ExtraArgsProblem {
  flag: string;
  message: string;
  managed: boolean;
}

/**
 * The flag an argument sets, or undefined for a value: `--port`, `--port=8080`, `-p`, `-p8080`
 * and `-p=8080` all set `--port`.
 */
export function flagOf(arg: string): string | undefined {
  if (arg.startsWith("--")) return arg.split("=", 1)[0];
  if (/^-[A-Za-z]/.test(arg)) {
    const short = arg.slice(0, 2);
    return SHORT_ALIASES[short] ?? short;
  }
  return undefined;
}

/**
 * Finds the first problem in `extra_args`: a flag the fleet manages, a flag a spec field sets, or
 * a single-value flag given twice. Returns undefined when TEI will accept the list as far as the
 * fleet can tell.
 */
export function findExtraArgsProblem(extraArgs: readonly string[]): ExtraArgsProblem | undefined {
  const seen = new Set<string>();
  for (const arg of extraArgs) {
    const flag = flagOf(arg);
    if (flag === undefined) continue;
    if ((MANAGED_FLAGS as readonly string[]).includes(flag)) {
      return {
        flag,
        managed: true,
        message: `extra_args may not set ${flag}: the fleet sets it (use the spec fields model_id, port, prometheus_port; --hostname is the node's address)`,
      };
    }
    const field = FIELD_FLAGS[flag];
    if (field !== undefined) {
      return { flag, managed: true, message: `extra_args may not set ${flag}: use the field ${field} instead` };
    }
    if (seen.has(flag) && !REPEATABLE_FLAGS.has(flag)) {
      return { flag, managed: false, message: `extra_args sets ${flag} twice; TEI refuses a flag given more than once` };
    }
    seen.add(flag);
  }
  return undefined;
}
