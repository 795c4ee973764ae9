/**
 * A log destination that gathers whole lines and writes them in batches, for a high-volume
 * access log (the gateway's one line per request), as nginx's `access_log ... buffer= flush=`
 * does. Each line written at once costs a system call and a wake-up of whoever reads the log
 * (journald, a pipe) per request, on a host whose cores TEI needs; batched, one write carries a
 * dozen lines.
 *
 * Why not pino's asynchronous destination (sonic-boom `sync: false`): it writes from the thread
 * pool while the service's synchronous logger writes the same descriptor, and splits buffers at
 * a byte count rather than a line, so a line could be cut in two with another line between the
 * halves. Here every batch is whole lines, at most `maxBytes` (default 4096, PIPE_BUF on Linux,
 * so that a write to a pipe is atomic), written synchronously by the same kind of writer as the
 * service's other lines.
 *
 * The price: a line waits up to `flushMs` (default 1 s), and lines still held are lost if the
 * process is killed with SIGKILL (they are written on a normal exit, an uncaught exception, or
 * a signal handled by the service kit).
 */
import { type DestinationStream, pino } from "pino";

/** Options of {@link BatchedLogDestination}. */
export interface BatchedLogOptions {
  /** Where batches go. Default: stderr, written synchronously (pino's destination). */
  target?: DestinationStream;
  /** A batch is written once adding a line would take it past this many bytes. Default 4096. */
  maxBytes?: number;
  /** Lines are held at most this long, ms. Default 1000. */
  flushMs?: number;
}

/** A pino destination that writes whole lines in batches. */
export class BatchedLogDestination implements DestinationStream {
  private readonly target: DestinationStream;
  private readonly maxBytes: number;
  private lines: string[] = [];
  private bytes = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly flushOnExit = (): void => this.flush();

  constructor(options: BatchedLogOptions = {}) {
    this.target = options.target ?? pino.destination({ dest: 2, sync: true });
    this.maxBytes = options.maxBytes ?? 4096;
    this.timer = setInterval(this.flushOnExit, options.flushMs ?? 1000);
    // The timer must not keep a process alive that has nothing else to do.
    this.timer.unref();
    process.once("exit", this.flushOnExit);
  }

  /** Takes one line (pino hands over each line whole, newline included). */
  write(line: string): void {
    const n = Buffer.byteLength(line);
    if (this.bytes + n > this.maxBytes) this.flush();
    if (n > this.maxBytes) {
      this.target.write(line);
      return;
    }
    this.lines.push(line);
    this.bytes += n;
  }

  /** Writes the lines held now. */
  flush(): void {
    if (this.lines.length === 0) return;
    const batch = this.lines.length === 1 ? (this.lines[0] as string) : this.lines.join("");
    this.lines = [];
    this.bytes = 0;
    this.target.write(batch);
  }

  /** Writes what is held and stops the timer (the destination still takes lines, written at exit). */
  close(): void {
    this.flush();
    clearInterval(this.timer);
  }
}
