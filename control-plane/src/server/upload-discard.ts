import type { Readable } from "node:stream";

/** How much of an unwanted upload the server reads and drops so that its client gets the answer. */
export interface DiscardLimits {
  /** Most bytes read and dropped. */
  maxBytes: number;
  /** Longest time spent reading, ms. */
  maxMs: number;
}

/**
 * Defaults of {@link DiscardLimits}: 32 MiB or 5 s, whichever comes first. Enough for a client
 * that sends a body of a few megabytes over a refused limit to finish sending and read its
 * answer; a client that sends more, or slower, is cut off (its answer may then be lost).
 */
export const DEFAULT_DISCARD_LIMITS: DiscardLimits = { maxBytes: 32 * 1024 * 1024, maxMs: 5000 };

/**
 * Reads and drops whatever `stream` still delivers until it ends; resolves `true` then, or `false`
 * when a limit is reached first (the stream is then paused, so the peer's flow control stops it),
 * or when the stream closes or fails before its end.
 */
export function discardUpload(stream: Readable, limits: DiscardLimits): Promise<boolean> {
  if (stream.readableEnded) return Promise.resolve(true);
  if (stream.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    let bytes = 0;
    const finish = (ended: boolean) => {
      clearTimeout(timer);
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("close", onClose);
      stream.off("error", onClose);
      if (!ended) stream.pause();
      resolve(ended);
    };
    const onData = (chunk: Buffer | string) => {
      bytes += chunk.length;
      if (bytes > limits.maxBytes) finish(false);
    };
    const onEnd = () => finish(true);
    const onClose = () => finish(stream.readableEnded);
    const timer = setTimeout(() => finish(false), limits.maxMs);
    timer.unref();
    stream.on("data", onData);
    stream.once("end", onEnd);
    stream.once("close", onClose);
    stream.once("error", onClose);
    stream.resume();
  });
}
