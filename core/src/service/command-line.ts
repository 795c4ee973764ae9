import { Command, Option } from "commander";
import type { ConfigOption, FlagValues, OptionTable } from "./config-option.ts";

/**
 * A service's command line, generated from its option table: one flag per setting that has one,
 * `--help` listing each with its environment twin and default, and the environment-only settings
 * after them. commander parses; the table decides everything else.
 */

/** What a service's command line is made of. */
export interface CommandSpec<T extends OptionTable> {
  /** The program's name, e.g. `tei-control-plane` (also the prefix of its error messages). */
  name: string;
  /** One paragraph for the top of `--help`. */
  description: string;
  /** The settings. */
  options: T;
  /** Text at the end of `--help` (what the table cannot say). */
  epilog?: string;
}

/**
 * Builds the commander program for `spec`. It throws `CommanderError` instead of exiting (after
 * printing `--help` its exit code is 0; for an unknown flag, commander has printed the message).
 */
export function buildCommand<T extends OptionTable>(spec: CommandSpec<T>): Command {
  const program = new Command(spec.name)
    .description(spec.description)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  for (const option of Object.values(spec.options)) {
    if (!option.flag) continue;
    const flag = new Option(`${option.flag} <${option.placeholder ?? "value"}>`, helpLine(option));
    if (option.repeatable) flag.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    program.addOption(flag);
  }
  const envOnly = Object.values(spec.options).filter((option) => !option.flag);
  if (envOnly.length > 0) {
    const width = Math.max(...envOnly.map((option) => option.env.length));
    const lines = envOnly.map((option) => {
      const note = defaultText(option);
      return `  ${option.env.padEnd(width)}  ${option.doc}${note ? ` [${note}]` : ""}`;
    });
    program.addHelpText("after", `\nEnvironment only:\n${lines.join("\n")}`);
  }
  program.addHelpText("after", "\nFlags win over their environment twins; a bad setting exits 2 naming it.");
  if (spec.epilog) program.addHelpText("after", `\n${spec.epilog}`);
  return program;
}

/**
 * Parses `argv` (as `process.argv`: node, script, then the arguments) into the flags' raw text by
 * setting name; settings whose flag is absent are left out, so their environment twin applies.
 *
 * @throws CommanderError for `--help`, an unknown flag or a flag without its value
 */
export function parseFlags<T extends OptionTable>(spec: CommandSpec<T>, argv: readonly string[]): FlagValues<T> {
  const program = buildCommand(spec);
  program.parse([...argv]);
  const given = program.opts<Record<string, string | string[] | undefined>>();
  const flags: Record<string, string | string[]> = {};
  for (const [key, option] of Object.entries(spec.options)) {
    if (!option.flag) continue;
    const value = given[new Option(option.flag).attributeName()];
    if (value !== undefined) flags[key] = value;
  }
  return flags as FlagValues<T>;
}

function helpLine(option: ConfigOption): string {
  const env = option.repeatable ? `env ${option.env}, comma-separated` : `env ${option.env}`;
  const notes = [env, defaultText(option)].filter(Boolean).join(", ");
  return `${option.doc}${option.repeatable ? " (repeatable)" : ""} [${notes}]`;
}

/** "default X", "required", or nothing. */
function defaultText(option: ConfigOption): string | undefined {
  const shown = option.defaultDoc ?? option.default;
  if (shown !== undefined) return `default ${shown}`;
  return option.required ? "required" : undefined;
}
