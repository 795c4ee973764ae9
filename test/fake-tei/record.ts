/**
 * FAKE_TEI_RECORD_FILE: writes {pid, argv, env, cwd} at start so that tests can assert the exact
 * command line and environment a supervisor gave TEI (each flag once, a clean environment,
 * CUDA_VISIBLE_DEVICES). `{port}` in the path is replaced by --port so that one setting serves
 * many instances. The write is synchronous and atomic (temp file + rename).
 */
import { renameSync, writeFileSync } from "node:fs";

/** What the record file holds. `argv` excludes the interpreter and script, like TEI's args. */
export interface StartRecord {
  pid: number;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
}

/**
 * Best-effort --port of an argv that may not parse (for the record path of a failing start):
 * the value after the last --port/-p, else the PORT env var, else TEI's default.
 */
export function scanPort(argv: readonly string[], env: NodeJS.ProcessEnv): string {
  let port: string | undefined;
  argv.forEach((arg, i) => {
    if (arg === "--port" || arg === "-p") port = argv[i + 1];
    else if (arg.startsWith("--port=")) port = arg.slice("--port=".length);
    else if (arg.startsWith("-p") && arg.length > 2) port = arg.slice(2);
  });
  return port ?? env.PORT ?? "3000";
}

/** Writes the record for this process to `pathTemplate` with `{port}` substituted. */
export function writeStartRecord(pathTemplate: string, port: string | number): string {
  const path = pathTemplate.replaceAll("{port}", String(port));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  const record: StartRecord = { pid: process.pid, argv: process.argv.slice(2), env, cwd: process.cwd() };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(record, null, 2));
  renameSync(tmp, path);
  return path;
}
