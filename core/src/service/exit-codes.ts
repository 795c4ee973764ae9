import { constants } from "node:os";

/**
 * The exit codes of every TEI Fleet service, so that systemd units, Kubernetes and scripts can
 * tell "fix the configuration" from "it crashed" the same way for each of them.
 *
 * | code | meaning |
 * |---|---|
 * | 0 | stopped as asked: SIGTERM/SIGINT, then a graceful close that finished (or `--help`) |
 * | 1 | could not start (port taken, Redis unreachable, ...), or the graceful close failed or ran out of time |
 * | 2 | bad command line or configuration: nothing was started, the message names the setting |
 * | 128 + n | a second signal arrived during the graceful close: exited at once (130 for SIGINT, 143 for SIGTERM) |
 */
export const EXIT_CODES = {
  ok: 0,
  failure: 1,
  usage: 2,
} as const;

/** 128 + the signal's number: the shell's convention for "ended by this signal". */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}
