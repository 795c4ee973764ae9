import { hostname } from "node:os";
import { type DestinationStream, type Logger, pino } from "pino";

/**
 * The one logger setup of every service: JSON lines (pino) on stderr, each with a `service`
 * field, and the fields that carry credentials censored wherever a log call puts them.
 * stderr because stdout is for what a command prints (`--help`): narration never mixes with
 * output, and one rule holds for every service (the router and the control plane logged there
 * already; the agent used stdout).
 */

/**
 * Field paths pino censors (fast-redact syntax: `*` is one level of any key). Covers the
 * request objects Fastify and pino-http log (`req.headers.authorization`), a bare `headers`
 * object, and tokens logged as a field of their own or one level down (`{ config: { joinToken } }`).
 * Deeper nesting is not covered: log the fields you mean, not whole option objects.
 */
export const REDACTED_PATHS: readonly string[] = [
  "req.headers.authorization",
  "req.headers.cookie",
  "headers.authorization",
  "*.headers.authorization",
  "authorization",
  "*.authorization",
  "token",
  "*.token",
  "adminToken",
  "*.adminToken",
  "readToken",
  "*.readToken",
  "joinToken",
  "*.joinToken",
];

/** What a censored value is replaced with. */
export const REDACTED = "[redacted]";

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Fields added to every line after `service` (e.g. the agent's `node`). */
  bindings?: Record<string, unknown>;
  /** Where lines go. Default: stderr, written synchronously so lines logged just before `process.exit` are kept. */
  destination?: DestinationStream;
}

/**
 * Creates a service's root logger. Components take `logger.child({ component })` of it; nothing
 * creates its own pino instance, so every line carries the same fields and redaction.
 *
 * @param service the program name, e.g. `tei-control-plane` (the `service` field)
 * @param level a pino level; default `info`
 */
export function createLogger(service: string, level = "info", options: LoggerOptions = {}): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, hostname: hostname(), service, ...options.bindings },
      redact: { paths: [...REDACTED_PATHS], censor: REDACTED },
    },
    options.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}
