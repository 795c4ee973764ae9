/**
 * The rule for a spec's `extra_args`, the arguments a user adds to TEI's command line. The control
 * plane applies it when a spec is written (a 400 naming `extra_args`) and the node agent applies it
 * again before it starts TEI, with this one function: a list the API accepts is a list the agent
 * runs. Each item is one argument, passed to TEI as it is (no shell ever splits it).
 */
import { EXITING_FLAGS, flagName, flagOf, MANAGED_FLAGS, REPEATABLE_FLAGS } from "./tei-flags.ts";

/**
 * Why `extra_args` cannot be passed to TEI:
 * - `control-character`: an item holds a line break, NUL or another control character;
 * - `not-one-argument`: an item is a flag with whitespace in its name (`"--revision main"`);
 * - `managed`: it sets a flag the fleet passes itself ({@link MANAGED_FLAGS});
 * - `exits`: it makes TEI print and exit ({@link EXITING_FLAGS});
 * - `repeated`: it sets a single-value flag twice.
 */
export type ExtraArgsProblemKind = "control-character" | "not-one-argument" | "managed" | "exits" | "repeated";

/** The first problem found in an `extra_args` list. */
export interface ExtraArgsProblem {
  kind: ExtraArgsProblemKind;
  /** Position of the offending item in the list. */
  index: number;
  /** The long flag at fault (`--port` for `-p8080`); undefined for `control-character`. */
  flag: string | undefined;
  /** That flag as the item spells it (`-p` for `-p8080`); undefined for `control-character`. */
  spelling: string | undefined;
  /** One sentence naming the item or flag and why; control characters in it are escaped. */
  message: string;
}

/**
 * Unicode's control characters (category Cc: C0, DEL and C1). A newline in an argument is almost
 * always a shell command line pasted into one item; TEI would get `main\n--port` as one value,
 * and logs, `ps` and the agent's state file would show it split over lines.
 */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g;

/** A flag name holding whitespace is never a TEI flag: clap would refuse it and TEI exit 2. */
const WHITESPACE = /\s/;

/** Longest part of an item quoted in a message. */
const QUOTE_MAX = 60;

/**
 * Finds the first problem in `extra_args`, in list order; undefined when TEI will accept the list
 * as far as the fleet can tell (a flag TEI does not know is TEI's to refuse: versions differ).
 */
export function findExtraArgsProblem(extraArgs: readonly string[]): ExtraArgsProblem | undefined {
  const seen = new Set<string>();
  for (const [index, arg] of extraArgs.entries()) {
    const control = CONTROL_CHARACTER.exec(arg);
    if (control) {
      return {
        kind: "control-character",
        index,
        flag: undefined,
        spelling: undefined,
        message:
          `extra_args[${index}] ${quote(arg)} contains the control character ${codePoint(control[0])}: ` +
          "each item is one argument passed to TEI as it is, without line breaks or other control characters",
      };
    }
    const spelling = flagName(arg);
    const flag = flagOf(arg);
    if (spelling === undefined || flag === undefined) continue;
    const problem = (kind: ExtraArgsProblemKind, message: string): ExtraArgsProblem => ({ kind, index, flag, spelling, message });
    if (WHITESPACE.test(spelling)) {
      const words = arg.split(/\s+/).filter(Boolean);
      return problem("not-one-argument", `extra_args[${index}] ${quote(arg)} is not one argument: give each as its own item, e.g. ${quote(words.slice(0, 2))}`);
    }
    const shown = spelling === flag ? flag : `${spelling} (${flag})`;
    const managed = MANAGED_FLAGS.get(flag);
    if (managed !== undefined) return problem("managed", `extra_args must not contain ${shown}: ${managed}`);
    if (EXITING_FLAGS.has(flag)) return problem("exits", `extra_args must not contain ${shown}: it makes TEI print and exit instead of serving`);
    if (seen.has(flag) && !REPEATABLE_FLAGS.has(flag)) {
      return problem("repeated", `extra_args contains ${flag} more than once; TEI exits 2 when a single-value flag is repeated`);
    }
    seen.add(flag);
  }
  return undefined;
}

/** JSON-quotes a value for a message, cut short, with every control character escaped. */
function quote(value: string | readonly string[]): string {
  const text = typeof value === "string" && value.length > QUOTE_MAX ? `${value.slice(0, QUOTE_MAX)}…` : value;
  // JSON.stringify escapes C0 but leaves DEL and C1 raw.
  return JSON.stringify(text).replace(CONTROL_CHARACTERS, (c) => codePoint(c).replace("U+", "\\u"));
}

function codePoint(c: string): string {
  return `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
}
