import { Code, ConnectError } from "@connectrpc/connect";
import type { TeiClients } from "./grpc-clients.ts";

/** What a traffic run saw: how many calls succeeded, and every failure with its code. */
export interface TrafficReport {
  ok: number;
  failures: { at: number; code: string; message: string }[];
}

/** A stream of calls running in the background until stop(). */
export interface Traffic {
  /** Resolves with the report once the in-flight calls have finished. */
  stop(): Promise<TrafficReport>;
  /** Calls that succeeded so far. */
  readonly ok: number;
}

/**
 * Sends one call after another (with `concurrency` callers) until stopped, as a user's client
 * would, recording every failure. Bounded: it stops on its own after `maxMs` (default 120 s).
 */
export function startTraffic(
  call: (clients: TeiClients) => Promise<unknown>,
  clients: TeiClients,
  options: { concurrency?: number; pauseMs?: number; maxMs?: number; deadlineMs?: number } = {},
): Traffic {
  const report: TrafficReport = { ok: 0, failures: [] };
  const started = Date.now();
  let running = true;
  const maxMs = options.maxMs ?? 120_000;
  const worker = async () => {
    while (running && Date.now() - started < maxMs) {
      try {
        await call(clients);
        report.ok++;
      } catch (err) {
        const e = ConnectError.from(err);
        report.failures.push({ at: Date.now() - started, code: Code[e.code], message: e.rawMessage });
      }
      if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
  };
  const workers = Array.from({ length: options.concurrency ?? 2 }, worker);
  return {
    get ok() {
      return report.ok;
    },
    async stop() {
      running = false;
      await Promise.all(workers);
      return report;
    },
  };
}
