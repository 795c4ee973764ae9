/**
 * A clap 4.5-compatible parser for text-embeddings-router's command line (tei.md §2): the same
 * flags, env fallbacks, precedence (command line > env > default) and, above all, the same usage
 * errors and exit code 2. A flag given twice is what broke tei-manager, so that message is exact.
 */
import { displayName, FLAGS, type FlagSpec } from "./cli-spec.ts";

/** The parsed configuration, named like TEI's `Args` struct fields (camelCase). */
export interface TeiArgs {
  modelId: string;
  revision?: string;
  tokenizationWorkers?: number;
  dtype?: "float16" | "float32";
  servedModelName?: string;
  pooling?: "cls" | "mean" | "splade" | "last-token";
  maxConcurrentRequests: number;
  maxBatchTokens: number;
  maxBatchRequests?: number;
  maxClientBatchSize: number;
  autoTruncate: boolean;
  defaultPromptName?: string;
  defaultPrompt?: string;
  densePath?: string;
  hfApiToken?: string;
  hfToken?: string;
  hostname: string;
  port: number;
  udsPath: string;
  huggingfaceHubCache?: string;
  payloadLimit: number;
  apiKey?: string;
  jsonOutput: boolean;
  disableSpans: boolean;
  otlpEndpoint?: string;
  otlpServiceName: string;
  prometheusPort: number;
  corsAllowOrigin?: string[];
  /** Raw values keyed by `Args` field name (snake_case), for the `Args { .. }` log line. */
  fields: Record<string, unknown>;
}

/** Either parsed arguments, or what to print and the code to exit with (help, version, error). */
export type CliOutcome = { kind: "run"; args: TeiArgs } | { kind: "exit"; code: number; stdout?: string; stderr?: string };

/** The program name clap prints (the binary name). */
const BIN = "text-embeddings-router";
/** Crate version reported by `--version` and by Info. */
export const TEI_VERSION = "1.9.3";

/** clap's error block: message, usage, hint; exit code 2. */
function usageError(message: string): CliOutcome {
  return {
    kind: "exit",
    code: 2,
    stderr: `error: ${message}\n\nUsage: ${BIN} [OPTIONS]\n\nFor more information, try '--help'.\n`,
  };
}

/** The message of a rejected value, as clap formats it (with possible values when an enum). */
function invalidValue(flag: FlagSpec, raw: string, reason?: string, possible?: string[]): CliOutcome {
  let message = `invalid value '${raw}' for '${displayName(flag)}'`;
  if (reason) message += `: ${reason}`;
  if (possible) message += `\n  [possible values: ${possible.join(", ")}]`;
  return usageError(message);
}

/** Parses one raw value with the flag's parser (plain string when it has none). */
function parseValue(flag: FlagSpec, raw: string): { ok: true; value: unknown } | { ok: false; outcome: CliOutcome } {
  if (!flag.parse) return { ok: true, value: raw };
  const parsed = flag.parse(raw);
  if (parsed.ok) return parsed;
  return { ok: false, outcome: invalidValue(flag, raw, parsed.reason, parsed.possible) };
}

/** The `--help` text (shortened from clap's long help, same flags and env names). */
export function helpText(): string {
  const lines = [`Text Embedding Webserver`, ``, `Usage: ${BIN} [OPTIONS] --model-id <MODEL_ID>`, ``, `Options:`];
  for (const flag of FLAGS) {
    if (flag.hidden) continue;
    const short = flag.short ? `-${flag.short}, ` : "    ";
    lines.push(`      ${short}${displayName(flag)}`, `          ${flag.help}`, ``, `          [env: ${flag.env}=]`, ``);
  }
  lines.push(`  -h, --help`, `          Print help (see a summary with '-h')`, ``, `  -V, --version`, `          Print version`);
  return `${lines.join("\n")}\n`;
}

/**
 * Parses argv (without node and script) and env exactly as TEI's clap setup does.
 * Never throws: every problem becomes an exit outcome with clap's text.
 */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliOutcome {
  const byLong = new Map(FLAGS.map((f) => [f.long, f]));
  const byShort = new Map(FLAGS.filter((f) => f.short).map((f) => [f.short as string, f]));
  const given = new Map<FlagSpec, unknown>();

  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    let flag: FlagSpec | undefined;
    let inline: string | undefined;
    if (token === "-h" || token === "--help") return { kind: "exit", code: 0, stdout: helpText() };
    if (token === "-V" || token === "--version") return { kind: "exit", code: 0, stdout: `${BIN} ${TEI_VERSION}\n` };
    if (token.startsWith("--") && token.length > 2) {
      const eq = token.indexOf("=");
      const name = eq === -1 ? token.slice(2) : token.slice(2, eq);
      if (eq !== -1) inline = token.slice(eq + 1);
      flag = byLong.get(name);
      if (!flag) return usageError(`unexpected argument '--${name}' found`);
    } else if (token.startsWith("-") && token.length > 1 && token !== "--") {
      flag = byShort.get(token[1] as string);
      if (!flag) return usageError(`unexpected argument '${token.slice(0, 2)}' found`);
      if (token.length > 2) inline = token[2] === "=" ? token.slice(3) : token.slice(2);
    } else {
      return usageError(`unexpected argument '${token}' found`);
    }

    // Without `args_override_self`, clap rejects any second occurrence of a non-Append arg.
    if (given.has(flag) && flag.kind !== "append") {
      return usageError(`the argument '${displayName(flag)}' cannot be used multiple times`);
    }

    let raw: string | undefined = inline;
    if (flag.kind === "bool") {
      if (inline !== undefined) {
        return usageError(`unexpected value '${inline}' for '${displayName(flag)}' found; no more were expected`);
      }
      given.set(flag, true);
      continue;
    }
    if (raw === undefined) {
      const next = argv[i + 1];
      const nextIsValue = next !== undefined && !(next.startsWith("-") && next.length > 1);
      if (nextIsValue) {
        raw = next;
        i++;
      } else if (flag.kind === "optional-bool") {
        given.set(flag, true); // default_missing_value = "true"
        continue;
      } else {
        return usageError(`a value is required for '${displayName(flag)}' but none was supplied`);
      }
    }
    const parsed = parseValue(flag, raw);
    if (!parsed.ok) return parsed.outcome;
    if (flag.kind === "append") {
      const list = (given.get(flag) as unknown[] | undefined) ?? [];
      list.push(parsed.value);
      given.set(flag, list);
    } else {
      given.set(flag, parsed.value);
    }
  }

  for (const [flag] of given) {
    const other = flag.conflictsWith ? byLong.get(flag.conflictsWith) : undefined;
    if (other && given.has(other)) {
      return usageError(`the argument '${displayName(flag)}' cannot be used with '${displayName(other)}'`);
    }
  }

  const fields: Record<string, unknown> = {};
  for (const flag of FLAGS) {
    let value = given.get(flag);
    if (value === undefined) {
      // clap ignores env vars that are set but empty.
      const fromEnv = env[flag.env];
      if (fromEnv !== undefined && fromEnv !== "") {
        const parsed = parseValue(flag, fromEnv);
        if (!parsed.ok) return parsed.outcome;
        value = flag.kind === "append" ? [parsed.value] : parsed.value;
      }
    }
    fields[flag.field] = value ?? flag.defaultValue;
  }
  if (fields.model_id === undefined) {
    return {
      kind: "exit",
      code: 2,
      stderr: `error: the following required arguments were not provided:\n  --model-id <MODEL_ID>\n\nUsage: ${BIN} [OPTIONS]\n\nFor more information, try '--help'.\n`,
    };
  }
  return { kind: "run", args: toArgs(fields) };
}

/** snake_case field → camelCase property. */
function camel(field: string): string {
  return field.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** Builds the typed view of the parsed fields. */
function toArgs(fields: Record<string, unknown>): TeiArgs {
  const args: Record<string, unknown> = { fields };
  for (const [field, value] of Object.entries(fields)) if (value !== undefined) args[camel(field)] = value;
  return args as unknown as TeiArgs;
}
