import { copyFile, open, rename, rm, stat, truncate } from "node:fs/promises";
import { type LogLine, LogRing, parseTeiLogLine } from "./log-ring.ts";

/**
 * One instance's log: TEI appends to a file (it must not write into a pipe that dies with the
 * agent); the agent tails that file into a {@link LogRing}, hands each new line to listeners
 * (start-up and CPU-fallback detection), and rotates the file when it grows past a size.
 *
 * Rotation is copy-then-truncate: TEI keeps its descriptor (opened with O_APPEND) and simply
 * continues at the start of the emptied file. A few lines written between the copy and the
 * truncation can be lost; that is the usual copytruncate trade-off.
 */

/** Options of {@link createInstanceLog}. */
export interface InstanceLogOptions {
  file: string;
  /** Lines kept in memory. Default 1000. */
  ringLines?: number;
  /** Rotate when the file reaches this size. Default 10 MiB. */
  maxBytes?: number;
  /** Rotated files kept (`file.1` ... `file.N`). Default 3. */
  maxFiles?: number;
  /** How often the file is read. Default 200 ms. */
  pollIntervalMs?: number;
  /** At start, how much of an existing file is read back into the ring. Default 256 KiB. */
  backfillBytes?: number;
}

/** A tailed, rotated log file with an in-memory ring. */
export interface InstanceLog {
  readonly file: string;
  readonly ring: LogRing;
  /**
   * Position just past the last byte read, counted across rotations (it never goes back), in the
   * same unit as {@link LogLine.offset}.
   */
  readonly position: number;
  /** Calls `listener` for every new line; returns an unsubscribe function. */
  onLine(listener: (line: LogLine) => void): () => void;
  /** Reads everything written so far (call before reporting an exit's last lines). */
  flush(): Promise<void>;
  /** The position where output written from now on will start (see {@link InstanceLog.position}). */
  endPosition(): Promise<number>;
  close(): void;
}

/** Starts tailing `options.file` (which may not exist yet). */
export async function createInstanceLog(options: InstanceLogOptions): Promise<InstanceLog> {
  const file = options.file;
  const ring = new LogRing(options.ringLines ?? 1000);
  const maxBytes = options.maxBytes ?? 10 * 1024 * 1024;
  const maxFiles = options.maxFiles ?? 3;
  const listeners = new Set<(line: LogLine) => void>();
  let offset = 0;
  // Bytes of earlier (rotated or truncated) file generations, so positions never go back.
  let base = 0;
  let partial = "";
  let partialOffset = 0;
  let closed = false;
  let reading: Promise<void> | undefined;

  const size = async () => {
    try {
      return (await stat(file)).size;
    } catch {
      return 0;
    }
  };

  function emit(raw: string, lineOffset: number, notify: boolean) {
    const line: LogLine = { raw, offset: lineOffset, readAtMs: Date.now(), ...parseTeiLogLine(raw) };
    ring.push(line);
    if (notify) for (const l of listeners) l(line);
  }

  async function readNew(notify: boolean): Promise<void> {
    const end = await size();
    if (end < offset) {
      // Truncated (rotated): start over at the beginning.
      base += offset;
      offset = 0;
      partial = "";
    }
    if (end === offset) return;
    const handle = await open(file, "r");
    try {
      while (offset < end) {
        const length = Math.min(end - offset, 1024 * 1024);
        const buf = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buf, 0, length, offset);
        if (bytesRead === 0) break;
        const text = partial + buf.subarray(0, bytesRead).toString("utf8");
        let lineStart = partial === "" ? base + offset : partialOffset;
        const parts = text.split("\n");
        partial = parts.pop() ?? "";
        for (const part of parts) {
          emit(part.replace(/\r$/, ""), lineStart, notify);
          lineStart += Buffer.byteLength(part) + 1;
        }
        partialOffset = lineStart;
        offset += bytesRead;
      }
    } finally {
      await handle.close();
    }
    if (offset >= maxBytes) await rotate();
  }

  async function rotate(): Promise<void> {
    for (let i = maxFiles - 1; i >= 1; i -= 1) {
      await rename(`${file}.${i}`, `${file}.${i + 1}`).catch(() => {});
    }
    await rm(`${file}.${maxFiles + 1}`, { force: true });
    await copyFile(file, `${file}.1`);
    await truncate(file, 0);
    base += offset;
    offset = 0;
    partial = "";
  }

  // Serialise reads: the poll timer and flush() must not interleave.
  const read = (notify: boolean) => {
    const next = (reading ?? Promise.resolve()).then(() => readNew(notify)).catch(() => {});
    reading = next;
    return next;
  };

  // Back-fill the ring from an existing file without notifying (those lines are history).
  const existing = await size();
  if (existing > 0) {
    const backfill = options.backfillBytes ?? 256 * 1024;
    offset = Math.max(0, existing - backfill);
    if (offset > 0) {
      // Skip the first, probably partial, line.
      partial = "";
      const handle = await open(file, "r");
      try {
        const probe = Buffer.alloc(Math.min(4096, existing - offset));
        const { bytesRead } = await handle.read(probe, 0, probe.length, offset);
        const nl = probe.subarray(0, bytesRead).indexOf(10);
        offset += nl === -1 ? bytesRead : nl + 1;
      } finally {
        await handle.close();
      }
    }
    await read(false);
  }

  const timer = setInterval(() => {
    if (!closed) void read(true);
  }, options.pollIntervalMs ?? 200);
  timer.unref();

  return {
    file,
    ring,
    get position() {
      return base + offset;
    },
    onLine(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    flush: () => read(true),
    endPosition: async () => base + (await size()),
    close() {
      closed = true;
      clearInterval(timer);
      listeners.clear();
    },
  };
}
