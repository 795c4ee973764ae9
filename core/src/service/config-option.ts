import type { z } from "zod";
import { ConfigError, type ConfigProblem } from "./config-error.ts";

/**
 * A service's settings as a declarative table: each entry names its flag, its `TEI_FLEET_*`
 * environment twin, how its text is parsed, its default and its help line. The table is the only
 * place a setting is described, so `--help`, the precedence rule and the error messages cannot
 * disagree with each other or between services.
 */

/** One setting. */
export interface ConfigOption<T = unknown> {
  /** The flag, e.g. `--listen`. Absent: the setting is environment-only (secrets: flags show in `ps`). */
  readonly flag?: `--${string}`;
  /** What the flag's value looks like in `--help`, e.g. `host:port`. Default `value`. */
  readonly placeholder?: string;
  /** The environment twin, e.g. `TEI_FLEET_LISTEN`. Written out (not derived) so it can be grepped. */
  readonly env: `TEI_FLEET_${string}`;
  /**
   * Parses the text (a `string`, or `string[]` when {@link ConfigOption.repeatable}) into the
   * value; `undefined` when the setting is absent and has no default. Its issue messages are
   * predicates ("must be at least 1") shown after the setting's name.
   */
  readonly schema: z.ZodType<T>;
  /** The text used when neither the flag nor the variable is given; parsed by `schema` too. */
  readonly default?: string;
  /** How `--help` shows a default computed elsewhere (e.g. `<advertise-address>:9101`). */
  readonly defaultDoc?: string;
  /** Absent (no flag, no variable, no default) is an error: "is required". */
  readonly required?: boolean;
  /** The flag may be given several times; the variable is then a comma-separated list. */
  readonly repeatable?: boolean;
  /** One line of `--help`. */
  readonly doc: string;
}

/** A service's settings, by the name its code reads them under. */
export type OptionTable = Readonly<Record<string, ConfigOption<unknown>>>;

/** The parsed values of a table. */
export type ConfigValues<T extends OptionTable> = { [K in keyof T]: z.output<T[K]["schema"]> };

/** The flags' raw text, by setting name (what the command line collected). */
export type FlagValues<T extends OptionTable> = { readonly [K in keyof T]?: string | readonly string[] };

/** The environment a configuration is read from. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** How messages and `--help` name a setting: `--listen / TEI_FLEET_LISTEN`, or `TEI_FLEET_ADMIN_TOKEN`. */
export function settingName(option: ConfigOption): string {
  return option.flag ? `${option.flag} / ${option.env}` : option.env;
}

/**
 * Resolves every setting of `table`: the flag wins over the environment variable, which wins over
 * the default. An empty variable counts as unset (what `KEY=` in an env file means). Every
 * setting is parsed, and every problem reported at once.
 *
 * @throws ConfigError naming each bad setting by its flag and variable
 */
export function resolveOptions<T extends OptionTable>(table: T, flags: FlagValues<T>, env: Environment): ConfigValues<T> {
  const values: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  for (const [key, option] of Object.entries(table)) {
    const text = flags[key] ?? fromEnv(option, env[option.env]) ?? option.default;
    if (text === undefined && option.required) {
      problems.push({ setting: settingName(option), message: "is required" });
      continue;
    }
    const input = option.repeatable && typeof text === "string" ? [text] : text;
    const parsed = option.schema.safeParse(input);
    if (parsed.success) values[key] = parsed.data;
    else problems.push(...parsed.error.issues.map((issue) => ({ setting: settingName(option), message: issue.message })));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return values as ConfigValues<T>;
}

function fromEnv(option: ConfigOption, value: string | undefined): string | string[] | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  return option.repeatable
    ? value
        .split(",")
        .map((item) => item.trim())
        .filter(Boolean)
    : value;
}
