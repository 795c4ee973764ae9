import { CommanderError } from "commander";
import { type CommandSpec, parseFlags } from "./command-line.ts";
import { ConfigError } from "./config-error.ts";
import { type ConfigValues, type Environment, type FlagValues, type OptionTable, resolveOptions } from "./config-option.ts";
import { EXIT_CODES } from "./exit-codes.ts";

/**
 * What a service's `main.ts` calls first: the command line and the environment become the
 * configuration, or the process ends with the documented exit code before anything starts.
 */

/** Options of {@link loadServiceConfig}. */
export interface LoadOptions<T extends OptionTable, C> {
  /** Default `process.argv`. */
  argv?: readonly string[];
  /** Default `process.env`. */
  env?: Environment;
  /**
   * Turns the flags and the environment into the service's configuration: usually
   * {@link resolveOptions} on the table, then the shape the service wants (nested groups,
   * defaults computed from other settings). Throws {@link ConfigError}. Default: `resolveOptions`.
   */
  resolve?: (flags: FlagValues<T>, env: Environment) => C;
}

/**
 * Reads the service's configuration. `--help` prints the generated help and exits 0; an unknown
 * flag, or any setting {@link ConfigError} refuses, exits 2 with a message on stderr naming every
 * bad setting by its flag and environment variable (`tei-router: invalid configuration: ...`).
 * Other errors are bugs and propagate.
 */
export function loadServiceConfig<T extends OptionTable, C = ConfigValues<T>>(spec: CommandSpec<T>, options: LoadOptions<T, C> = {}): C {
  const env = options.env ?? process.env;
  const resolve = options.resolve ?? ((flags: FlagValues<T>, e: Environment) => resolveOptions(spec.options, flags, e) as C);
  try {
    return resolve(parseFlags(spec, options.argv ?? process.argv), env);
  } catch (error) {
    // commander has printed its own message (or the help) already.
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage);
    if (error instanceof ConfigError) {
      process.stderr.write(`${spec.name}: ${error.message}\n`);
      process.exit(EXIT_CODES.usage);
    }
    throw error;
  }
}
