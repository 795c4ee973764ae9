/**
 * Batches writes to a socket: everything written while handling one event (one received chunk,
 * one timer) leaves in one `socket.write` at the end of the current microtask queue. At
 * concurrency 1 that turns a proxied call's three or four frames into one system call.
 */
import type { Socket } from "node:net";

/** Concatenating small batches is cheaper than a vectored write; large ones are corked instead. */
const CONCAT_LIMIT = 65_536;

/**
 * Already settled: `.then` on it queues the flush as a microtask, like queueMicrotask, without the
 * AsyncResource and closure queueMicrotask allocates on every call (twice per proxied call).
 */
const SETTLED = Promise.resolve();

/** A socket writer that coalesces and tracks whether the socket is behind. */
export class BatchedWriter {
  private readonly socket: Socket;
  private out: Buffer[] = [];
  private outBytes = 0;
  private scheduled = false;
  private stopped = false;
  /** The socket's buffer is full: hold back what flow control would otherwise send. */
  congested = false;
  private readonly flushLater = (): void => this.flush();

  /** @param onDrain - called when a congested socket has drained */
  constructor(socket: Socket, onDrain: () => void) {
    this.socket = socket;
    socket.on("drain", () => {
      this.congested = false;
      onDrain();
    });
  }

  /** Queues `buf` for the next flush (dropped once stopped). */
  write(buf: Buffer): void {
    if (this.stopped) return;
    this.out.push(buf);
    this.outBytes += buf.length;
    if (!this.scheduled) {
      this.scheduled = true;
      SETTLED.then(this.flushLater);
    }
  }

  /** Writes what is queued now. */
  flush(): void {
    this.scheduled = false;
    const out = this.out;
    if (out.length === 0 || this.stopped) return;
    this.out = [];
    const bytes = this.outBytes;
    this.outBytes = 0;
    let ok: boolean;
    if (out.length === 1) ok = this.socket.write(out[0] as Buffer);
    else if (bytes <= CONCAT_LIMIT) ok = this.socket.write(Buffer.concat(out, bytes));
    else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
      ok = !this.socket.writableNeedDrain;
    }
    if (!ok) this.congested = true;
  }

  /** Drops anything queued and ignores later writes (the connection is gone). */
  stop(): void {
    this.stopped = true;
    this.out = [];
  }
}
