/**
 * The receiving half of an HTTP/2 connection's flow control: what the peer may still send on the
 * connection and on each stream, and the credit (WINDOW_UPDATE) returned as the stream owners
 * report bytes passed on. Credit goes back in batches of half a window, so small calls send none.
 */
import type { BatchedWriter } from "./batched-writer.ts";
import { windowUpdateFrame } from "./frames.ts";
import type { H2Stream } from "./h2-stream.ts";

/** Receive windows of one connection. */
export class InboundFlow {
  private readonly writer: BatchedWriter;
  private readonly connectionWindow: number;
  private readonly streamWindow: number;
  /** Bytes the peer may still send on the connection. */
  private window: number;
  /** Bytes passed on but not yet credited back on the connection. */
  private unacked = 0;

  /** @param connectionWindow / streamWindow - what this side grants (its WINDOW_UPDATE and SETTINGS) */
  constructor(writer: BatchedWriter, connectionWindow: number, streamWindow: number) {
    this.writer = writer;
    this.connectionWindow = connectionWindow;
    this.streamWindow = streamWindow;
    this.window = connectionWindow;
  }

  /** Counts `len` bytes of DATA against the connection window; false when the peer exceeded it. */
  takeConnection(len: number): boolean {
    this.window -= len;
    return this.window >= 0;
  }

  /** Counts `len` bytes of DATA against a stream's window; false when the peer exceeded it. */
  takeStream(s: H2Stream, len: number): boolean {
    s.recvWindow -= len;
    return s.recvWindow >= 0;
  }

  /** Credits `n` bytes received on `s` (null: the connection only) back to the peer. */
  consume(s: H2Stream | null, n: number): void {
    this.unacked += n;
    if (this.unacked >= this.connectionWindow >>> 1) {
      this.writer.write(windowUpdateFrame(0, this.unacked));
      this.window += this.unacked;
      this.unacked = 0;
    }
    if (s === null || s.closed || s.remoteEnded) return;
    s.unacked += n;
    if (s.unacked >= this.streamWindow >>> 1) {
      this.writer.write(windowUpdateFrame(s.id, s.unacked));
      s.recvWindow += s.unacked;
      s.unacked = 0;
    }
  }
}
