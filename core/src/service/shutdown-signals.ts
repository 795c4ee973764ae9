import type { Logger } from "pino";
import { EXIT_CODES, signalExitCode } from "./exit-codes.ts";

/**
 * How every service stops: the first SIGTERM or SIGINT starts one graceful close (stop taking
 * work, finish or hand over what is in flight, release resources) and exits 0 when it is done;
 * a failed or timed-out close exits 1; a second signal during the close exits at once with
 * 128 + the signal's number, for the operator who pressed Ctrl-C twice. See {@link EXIT_CODES}.
 */

/** Options of {@link handleShutdownSignals}. */
export interface ShutdownOptions {
  /** The graceful close; called once, with the signal that started it. */
  close: (signal: NodeJS.Signals) => Promise<void>;
  /** Where the shutdown is narrated (the service's logger). */
  logger: Pick<Logger, "info" | "warn" | "error">;
  /** A close still running after this long exits 1. Default: no limit (the close bounds itself). */
  timeoutMs?: number;
  /** Default SIGTERM and SIGINT. */
  signals?: readonly NodeJS.Signals[];
  /** Ends the process. Default `process.exit`. */
  exit?: (code: number) => void;
}

/** Installs the handlers; returns a function that removes them. */
export function handleShutdownSignals(options: ShutdownOptions): () => void {
  const { logger } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? ["SIGTERM", "SIGINT"];
  let closing = false;

  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      logger.warn({ signal }, "second signal during shutdown: exiting at once");
      exit(signalExitCode(signal));
      return;
    }
    closing = true;
    logger.info({ signal }, "shutting down");
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            logger.error({ timeoutMs: options.timeoutMs }, "shutdown did not finish in time; exiting");
            exit(EXIT_CODES.failure);
          }, options.timeoutMs);
    // The timer must not be what keeps a finished process alive.
    timer?.unref();
    Promise.resolve()
      .then(() => options.close(signal))
      .then(
        () => {
          clearTimeout(timer);
          logger.info("stopped");
          exit(EXIT_CODES.ok);
        },
        (error: unknown) => {
          clearTimeout(timer);
          logger.error({ err: error }, "shutdown failed");
          exit(EXIT_CODES.failure);
        },
      );
  };
  for (const signal of signals) process.on(signal, onSignal);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
}
