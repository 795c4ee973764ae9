/**
 * What TEI Fleet knows about TEI's command line (`text-embeddings-router`, clap 4; tei.md §2): the
 * flags the fleet passes itself, the flags that stop TEI from serving, the one flag that may
 * repeat, and how to read a flag's name from an argument. The node agent builds TEI's command line
 * from these tables and the control plane checks `extra_args` against them, so the two cannot
 * disagree about a flag.
 */

/**
 * The spec's TEI settings: each spec field (REST name) the node agent passes to TEI as a flag,
 * `--flag value`, whenever the field is set. Adding a TEI setting is a row here, the field in the
 * schema (spec/instance-spec.ts) and in proto's InstanceSpec; the command line
 * (tei-command-line.ts), the assignment (which carries the spec) and the rule that `extra_args`
 * may not set the flag follow from this table.
 */
export const TEI_SETTING_FLAGS: readonly { readonly field: string; readonly flag: string }[] = [
  { field: "max_batch_tokens", flag: "--max-batch-tokens" },
  { field: "max_concurrent_requests", flag: "--max-concurrent-requests" },
  { field: "pooling", flag: "--pooling" },
];

/** TEI's accepted `--pooling` values (tei.md §2); the spec's `pooling` is one of them. */
export const POOLING_VALUES = ["cls", "mean", "splade", "last-token"] as const;

/**
 * Flags the fleet passes to TEI itself, each with what the user sets instead. The node agent
 * passes `--model-id`, `--port`, `--prometheus-port`, `--hostname` and `--json-output` on every
 * launch and the setting flags ({@link TEI_SETTING_FLAGS}) whenever their spec field is set. TEI
 * (clap) exits 2 when a single-value flag appears twice, which is how tei-manager's worst bug
 * showed up (a doubled `--prometheus-port` crashed every instance), so `extra_args` may never set
 * one of these.
 */
export const MANAGED_FLAGS: ReadonlyMap<string, string> = new Map([
  ["--model-id", "use the field model_id"],
  ["--port", "use the field port (or leave it out: the node allocates one)"],
  ["--prometheus-port", "use the field prometheus_port (or leave it out: the node allocates one)"],
  ["--hostname", "it is always the node's advertise address"],
  ...TEI_SETTING_FLAGS.map(({ field, flag }): [string, string] => [flag, `use the field ${field}`]),
  // The agent reads TEI's JSON logs (levels, CPU fallback, Ready); a second one would exit 2.
  ["--json-output", "the agent always passes it, to read TEI's logs"],
]);

/**
 * Flags that make TEI print something and exit 0 instead of serving. Passed to a replica, they
 * would look like a process that keeps exiting: a crash loop with nothing wrong in the logs.
 */
export const EXITING_FLAGS: ReadonlySet<string> = new Set(["--help", "--version"]);

/** Flags TEI collects into a list (clap `ArgAction::Append`); every other flag may appear once. */
export const REPEATABLE_FLAGS: ReadonlySet<string> = new Set(["--cors-allow-origin"]);

/** TEI's short options and the long flags they stand for: the only three it has. */
export const SHORT_FLAG_ALIASES: ReadonlyMap<string, string> = new Map([
  ["-p", "--port"],
  ["-h", "--help"],
  ["-V", "--version"],
]);

/**
 * The flag name of an argument as written, or undefined for a value: `--port=1` is `--port`,
 * `-p8080` and `-p=8080` are `-p`. A lone `-`, a lone `--` (clap's end of options) and a negative
 * number are values, not flags.
 */
export function flagName(arg: string): string | undefined {
  if (arg.startsWith("--")) {
    if (arg.length === 2) return undefined;
    const eq = arg.indexOf("=");
    return eq === -1 ? arg : arg.slice(0, eq);
  }
  // clap reads `-p8080` as `-p 8080`: only the first letter after the dash names the option.
  if (/^-[A-Za-z]/.test(arg)) return arg.slice(0, 2);
  return undefined;
}

/**
 * The long flag an argument sets, or undefined for a value: `--port`, `--port=8080`, `-p`,
 * `-p8080` and `-p=8080` all set `--port`. A short option TEI does not have stays as written.
 */
export function flagOf(arg: string): string | undefined {
  const name = flagName(arg);
  return name === undefined ? undefined : (SHORT_FLAG_ALIASES.get(name) ?? name);
}
