/**
 * The watcher's side of the watch protocol (watch.proto): keeps a WatchMirror in step with a
 * server-streaming watch. It opens the stream from the mirror's position, applies every event,
 * and on any break reconnects with backoff from the same position, so a reconnect costs only
 * what changed meanwhile. An event that does not apply (a gap: the server's history started
 * again, or it skipped a version) is never papered over: the follower reconnects without a
 * position and takes a snapshot. Until that arrives, and while the server is away, the mirror
 * keeps what it had, so its owner keeps serving.
 */
import type { WatchEvent } from "@tei-fleet/proto/fleet/v1";
import type { Logger } from "pino";
import { type AppliedEvent, WatchGapError, WatchMirror, type WatchPoint } from "./watch-mirror.ts";

/** Options of {@link followWatch}. */
export interface WatchFollowerOptions {
  /**
   * Opens one watch stream from `position` (undefined: from nothing, i.e. a snapshot first),
   * aborted through `signal`. For a Connect client: `(p, signal) => client.watchX({ position: p }, { signal })`
   * mapped to its events.
   */
  open(position: WatchPoint | undefined, signal: AbortSignal): AsyncIterable<WatchEvent>;
  /** Called after every snapshot and delta was applied (not for keepalives). */
  onChange(mirror: WatchMirror, applied: Exclude<AppliedEvent, { kind: "keepalive" }>): void;
  log: Logger;
  /** What the watch is of, for logs. Default "watch". */
  name?: string;
  /** The mirror to keep. Default: a new, empty one. */
  mirror?: WatchMirror;
  /** First reconnect delay, doubled up to maxBackoffMs. Default 200 ms. */
  minBackoffMs?: number;
  /** Default 5000 ms. */
  maxBackoffMs?: number;
  /**
   * A stream that delivers nothing for this long is dropped and reopened: servers send a
   * keepalive every 15 s, so silence means a half-open connection. Default 45 000 ms.
   */
  idleTimeoutMs?: number;
}

/** A running follower. */
export interface WatchFollower {
  readonly mirror: WatchMirror;
  /** True while a stream is open and has delivered an event (the mirror is current). */
  readonly streaming: boolean;
  /** Resolves once the mirror holds a snapshot (rejects when stopped first). */
  readonly loaded: Promise<void>;
  stop(): void;
}

/** Starts following a watch. */
export function followWatch(options: WatchFollowerOptions): WatchFollower {
  const { log } = options;
  const name = options.name ?? "watch";
  const mirror = options.mirror ?? new WatchMirror();
  const minBackoff = options.minBackoffMs ?? 200;
  const maxBackoff = options.maxBackoffMs ?? 5000;
  const idleMs = options.idleTimeoutMs ?? 45_000;
  const stopper = new AbortController();
  let resolveLoaded!: () => void;
  let rejectLoaded!: (err: Error) => void;
  const loaded = new Promise<void>((resolve, reject) => {
    resolveLoaded = resolve;
    rejectLoaded = reject;
  });
  loaded.catch(() => {}); // nobody has to wait for it
  if (mirror.loaded) resolveLoaded();

  // False after a gap, until a snapshot replaced what the mirror held: its position means nothing.
  let resumable = true;
  let streaming = false;
  /** Reads one stream until it ends or breaks; true when it ended on a gap. */
  const readStream = async (signal: AbortSignal, received: () => void): Promise<boolean> => {
    for await (const event of options.open(resumable ? mirror.position() : undefined, signal)) {
      received();
      let applied: AppliedEvent;
      try {
        applied = mirror.apply(event);
      } catch (err) {
        if (!(err instanceof WatchGapError)) throw err;
        log.warn({ watch: name, reason: err.message }, "watch gap; taking a snapshot");
        resumable = false;
        return true;
      }
      if (applied.kind === "keepalive") continue;
      if (applied.kind === "snapshot") {
        resumable = true;
        resolveLoaded();
      }
      try {
        options.onChange(mirror, applied);
      } catch (err) {
        log.error({ watch: name, err }, "applying a watch event failed");
      }
    }
    return false;
  };

  const loop = async (): Promise<void> => {
    let backoff = minBackoff;
    while (!stopper.signal.aborted) {
      const attempt = new AbortController();
      const onStop = (): void => attempt.abort();
      stopper.signal.addEventListener("abort", onStop, { once: true });
      let idle: NodeJS.Timeout | undefined;
      const arm = (): void => {
        clearTimeout(idle);
        idle = setTimeout(() => attempt.abort(new Error(`nothing received for ${idleMs} ms`)), idleMs);
        idle.unref();
      };
      try {
        arm();
        const gap = await readStream(attempt.signal, () => {
          arm();
          backoff = minBackoff;
          streaming = true;
        });
        if (!gap) log.warn({ watch: name }, "watch ended; reconnecting");
      } catch (err) {
        if (stopper.signal.aborted) break;
        log.warn({ watch: name, err: (err as Error).message, retryInMs: backoff }, "watch failed; keeping the last copy");
      } finally {
        streaming = false;
        clearTimeout(idle);
        attempt.abort();
        stopper.signal.removeEventListener("abort", onStop);
      }
      await sleep(backoff, stopper.signal);
      backoff = Math.min(backoff * 2, maxBackoff);
    }
  };
  void loop();

  return {
    mirror,
    get streaming() {
      return streaming;
    },
    loaded,
    stop() {
      stopper.abort();
      rejectLoaded(new Error(`${name} stopped`));
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
