/**
 * The open-loop load generator of `pnpm bench:admission`: each stream sends calls at scheduled
 * arrival times (evenly spaced at its rate), whether or not earlier calls have been answered, as
 * independent clients do; a closed loop would slow down with the fleet and hide its queueing.
 * Every call's outcome is kept: its gRPC code, when it was sent (ms since the start), how long
 * its answer took, and whether the generator's watchdog had to give up on it (a hang).
 */
import { performance } from "node:perf_hooks";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Embed } from "@tei-fleet/proto/tei/v1";
import { H2Caller } from "./admission-h2-caller.ts";

/** One stream of calls. */
export interface LoadStream {
  /** Its name in the results. */
  readonly name: string;
  /** gRPC base URL of the router it calls. */
  readonly url: string;
  /** Calls per second. */
  readonly perSecond: number;
  /** The model the calls name (`x-tei-model`). */
  readonly model: string;
  /** The API key sent as `authorization: Bearer`, if any. */
  readonly apiKey?: string;
  /** The text each call embeds. */
  readonly text: string;
}

/** What happened to one call. */
export interface CallOutcome {
  readonly stream: string;
  /** gRPC code (0: OK). */
  readonly code: Code | 0;
  /** When it was sent, ms after the load started. */
  readonly sentAt: number;
  /** Its answer's latency, ms (to the watchdog's give-up for a hang). */
  readonly ms: number;
  /** No answer by its deadline plus the grace: the watchdog aborted it. */
  readonly hung: boolean;
}

/** Options of {@link runLoad}. */
export interface LoadOptions {
  readonly streams: readonly LoadStream[];
  /** How long arrivals are scheduled, ms. */
  readonly durationMs: number;
  /** The deadline each call sends (`grpc-timeout`), ms. */
  readonly deadlineMs: number;
  /** Past its deadline by this much, a call counts as hung and is aborted. Default 1000 ms. */
  readonly hangGraceMs?: number;
  /**
   * The client: Connect's gRPC client (default, what an application uses), or Node's bare HTTP/2
   * client (admission-h2-caller.ts: a tenth of the CPU per call, for timing the router's answers).
   */
  readonly client?: "connect" | "http2";
}

/** The outcome of a run. */
export interface LoadResult {
  readonly outcomes: CallOutcome[];
  /** The generator's worst lateness against its schedule, ms (how open the loop really was). */
  readonly maxLagMs: number;
}

type EmbedClient = Client<typeof Embed>;

/** Runs the streams for `durationMs`, then waits for every call to end. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const grace = o.hangGraceMs ?? 1000;
  const clients = new Map<string, EmbedClient>();
  const clientOf = (url: string): EmbedClient => {
    let c = clients.get(url);
    if (c === undefined) {
      c = createClient(Embed, createGrpcTransport({ baseUrl: url }));
      clients.set(url, c);
    }
    return c;
  };
  const outcomes: CallOutcome[] = [];
  const pending = new Set<Promise<void>>();
  const timeout = `${o.deadlineMs}m`;
  const start = performance.now();
  let maxLagMs = 0;

  const h2 = o.client === "http2" ? new H2Caller() : null;

  const send = (s: LoadStream): void => {
    const sentAt = performance.now();
    const watchdog = new AbortController();
    const timer = setTimeout(() => watchdog.abort(), o.deadlineMs + grace);
    const headers: Record<string, string> = { "x-tei-model": s.model, "grpc-timeout": timeout };
    if (s.apiKey !== undefined) headers.authorization = `Bearer ${s.apiKey}`;
    const p =
      h2 !== null
        ? h2.embed({ url: s.url, headers, text: s.text }, watchdog.signal)
        : clientOf(s.url)
            .embed({ inputs: s.text, normalize: true, truncate: true }, { headers, signal: watchdog.signal })
            .then(
              () => 0 as const,
              (err: unknown) => ConnectError.from(err).code,
            );
    const done = p.then((code) => {
      clearTimeout(timer);
      const hung = watchdog.signal.aborted;
      outcomes.push({ stream: s.name, code, sentAt: sentAt - start, ms: performance.now() - sentAt, hung });
    });
    pending.add(done);
    void done.finally(() => pending.delete(done));
  };

  const next = o.streams.map(() => 0); // index of each stream's next arrival
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now() - start;
      let more = false;
      o.streams.forEach((s, i) => {
        const gap = 1000 / s.perSecond;
        for (;;) {
          const due = (next[i] as number) * gap;
          if (due >= o.durationMs) break;
          more = true;
          if (due > now) break;
          maxLagMs = Math.max(maxLagMs, now - due);
          next[i] = (next[i] as number) + 1;
          send(s);
        }
      });
      if (more) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  while (pending.size > 0) await Promise.all([...pending]);
  h2?.close();
  return { outcomes, maxLagMs };
}

/** The `q`-quantile (0..1) of `values` (sorted here), or NaN without values. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

export { Code };
