/**
 * TEI's start-up and shutdown log on stdout, in the two formats tracing-subscriber gives it:
 * plain text (`2026-01-01T00:00:00.000000Z  INFO target: file:line: message`) or, with
 * --json-output, one JSON object per line with TEI's keys (tei.md §6.1). Fatal errors and panics
 * do not go through here: they are plain text on stderr, like Rust's `main` error and panic hook.
 */

/** Where a log line comes from: the Rust target, source file and line TEI would report. */
export interface LogSite {
  target: string;
  filename: string;
  line: number;
}

/** The call sites of TEI 1.9.3's start-up lines the fake reproduces. */
export const SITES = {
  main: { target: "text_embeddings_router", filename: "router/src/main.rs", line: 210 },
  download: { target: "text_embeddings_core::download", filename: "core/src/download.rs", line: 38 },
  lib: { target: "text_embeddings_router", filename: "router/src/lib.rs", line: 255 },
  tokenization: { target: "text_embeddings_core::tokenization", filename: "core/src/tokenization.rs", line: 30 },
  candle: { target: "text_embeddings_backend_candle", filename: "backends/candle/src/lib.rs", line: 281 },
  backend: { target: "text_embeddings_backend", filename: "backends/src/lib.rs", line: 528 },
  grpc: { target: "text_embeddings_router::grpc::server", filename: "router/src/grpc/server.rs", line: 1490 },
  shutdown: { target: "text_embeddings_router::shutdown", filename: "router/src/shutdown.rs", line: 36 },
} as const satisfies Record<string, LogSite>;

/** Log levels TEI emits at start-up. */
export type Level = "INFO" | "WARN" | "ERROR";

/** A line logger bound to one output format. */
export interface Logger {
  log(level: Level, site: LogSite, message: string): void;
  info(site: LogSite, message: string): void;
  warn(site: LogSite, message: string): void;
  error(site: LogSite, message: string): void;
}

/** RFC 3339 with microseconds, as tracing prints it (JS has milliseconds; pad the rest). */
function timestamp(): string {
  const iso = new Date().toISOString(); // 2026-01-01T00:00:00.000Z
  return `${iso.slice(0, -1)}000Z`;
}

/**
 * Creates the logger. `write` defaults to stdout; stdout writes to pipes and files are
 * synchronous on Linux, so lines logged right before an exit are not lost.
 */
export function createLogger(options: { json: boolean; write?: (line: string) => void }): Logger {
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const log = (level: Level, site: LogSite, message: string): void => {
    if (options.json) {
      write(
        `${JSON.stringify({
          timestamp: timestamp(),
          level,
          message,
          target: site.target,
          filename: site.filename,
          line_number: site.line,
        })}\n`,
      );
    } else {
      write(`${timestamp()} ${level.padStart(5)} ${site.target}: ${site.filename}:${site.line}: ${message}\n`);
    }
  };
  return {
    log,
    info: (site, message) => log("INFO", site, message),
    warn: (site, message) => log("WARN", site, message),
    error: (site, message) => log("ERROR", site, message),
  };
}

/** Prints a fatal start-up error the way anyhow does from `main`, then exits 1. */
export function fatal(context: string, causes: string[] = []): never {
  let text = `Error: ${context}\n`;
  if (causes.length === 1) text += `\nCaused by:\n    ${causes[0]}\n`;
  else if (causes.length > 1) text += `\nCaused by:\n${causes.map((c, i) => `    ${i}: ${c}`).join("\n")}\n`;
  process.stderr.write(text);
  process.exit(1);
}

/**
 * Emulates a Rust panic under `panic = "abort"`: the panic message on stderr, then SIGABRT.
 * Real TEI dies this way on a bad enum value or an empty RerankStream (tei.md §1.6).
 */
export function panicAbort(location: string, message: string): never {
  process.stderr.write(
    `thread 'tokio-runtime-worker' panicked at ${location}:\n${message}\nnote: run with \`RUST_BACKTRACE=1\` environment variable to display a backtrace\n`,
  );
  process.kill(process.pid, "SIGABRT");
  // The signal is delivered asynchronously in theory; never return to the caller meanwhile.
  process.abort();
}
