/**
 * The sending half of an HTTP/2 connection: the peer's flow-control windows, per-stream queues
 * of what the windows (or a full socket) do not take yet, and the cutting of header blocks and
 * DATA into frames no larger than the peer allows. Trailers queue behind the data before them.
 */

import type { BatchedWriter } from "./batched-writer.ts";
import {
  ConnectionError,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER_SIZE,
  FrameType,
  frameHeader,
  MAX_WINDOW,
  writeFrameHeader,
} from "./frames.ts";
import type { H2Stream, QueuedSend } from "./h2-stream.ts";
import { HpackEncoder } from "./hpack-encoder.ts";

/** Outbound state of one connection. */
export class OutboundFlow {
  private readonly writer: BatchedWriter;
  private readonly onEnded: (s: H2Stream) => void;
  /** Streams with queued sends, in the order they blocked. */
  private readonly blocked = new Set<H2Stream>();
  /** Header compression toward the peer. */
  readonly encoder = new HpackEncoder();
  /** Connection-level window: bytes of DATA the peer accepts now. */
  sendWindow = DEFAULT_WINDOW;
  /** The peer's SETTINGS_MAX_FRAME_SIZE. */
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;

  /** @param onEnded - called when END_STREAM has been written on a stream */
  constructor(writer: BatchedWriter, onEnded: (s: H2Stream) => void) {
    this.writer = writer;
    this.onEnded = onEnded;
  }

  /** Sends response headers, or trailers with `endStream`. Queued behind data already queued. */
  sendHeaders(s: H2Stream, headers: readonly string[], endStream: boolean): void {
    if (s.closed || s.localEnded) return;
    if (s.queue !== null) {
      s.queue.push({ data: null, headers, end: endStream });
      return;
    }
    this.writeHeaders(s, headers, endStream);
  }

  /**
   * Sends DATA. Returns true when all of it was written; false when some waits for the peer's
   * window or the socket (the handler's `onDrain` follows once the queue is empty).
   */
  sendData(s: H2Stream, data: Buffer, endStream: boolean): boolean {
    if (s.closed || s.localEnded) return true;
    if (s.queue !== null || this.writer.congested) {
      this.enqueue(s, { data, headers: null, end: endStream });
      return false;
    }
    const n = Math.min(data.length, s.sendWindow, this.sendWindow);
    if (n === data.length) {
      this.writeData(s, data, endStream);
      return !this.writer.congested;
    }
    if (n > 0) this.writeData(s, data.subarray(0, n), false);
    this.enqueue(s, { data: data.subarray(n), headers: null, end: endStream });
    return false;
  }

  private enqueue(s: H2Stream, item: QueuedSend): void {
    if (s.queue === null) s.queue = [];
    s.queue.push(item);
    if (s.id !== 0) this.blocked.add(s);
  }

  /** Writes a header block now, as HEADERS plus CONTINUATION frames when it is large. */
  writeHeaders(s: H2Stream, headers: readonly string[], endStream: boolean): void {
    // Encoded after room for a frame header: the common one-frame block is written in place.
    const framed = this.encoder.encode(headers, FRAME_HEADER_SIZE);
    const length = framed.length - FRAME_HEADER_SIZE;
    const max = this.maxFrameSize;
    const endFlag = endStream ? Flag.END_STREAM : 0;
    if (length <= max) {
      writeFrameHeader(framed, 0, length, FrameType.HEADERS, endFlag | Flag.END_HEADERS, s.id);
      this.writer.write(framed);
    } else {
      const block = framed.subarray(FRAME_HEADER_SIZE);
      for (let off = 0; off < block.length; off += max) {
        const part = block.subarray(off, Math.min(off + max, block.length));
        const last = off + max >= block.length;
        const type = off === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
        this.writer.write(frameHeader(part.length, type, (off === 0 ? endFlag : 0) | (last ? Flag.END_HEADERS : 0), s.id));
        this.writer.write(part);
      }
    }
    if (endStream) this.onEnded(s);
  }

  private writeData(s: H2Stream, data: Buffer, endStream: boolean): void {
    const max = this.maxFrameSize;
    s.sendWindow -= data.length;
    this.sendWindow -= data.length;
    if (data.length <= max) {
      this.writer.write(frameHeader(data.length, FrameType.DATA, endStream ? Flag.END_STREAM : 0, s.id));
      if (data.length > 0) this.writer.write(data);
    } else {
      for (let off = 0; off < data.length; off += max) {
        const end = Math.min(off + max, data.length);
        const last = end === data.length;
        this.writer.write(frameHeader(end - off, FrameType.DATA, last && endStream ? Flag.END_STREAM : 0, s.id));
        this.writer.write(data.subarray(off, end));
      }
    }
    if (endStream) this.onEnded(s);
  }

  /** Writes what the windows allow from each blocked stream's queue. */
  flushQueues(): void {
    if (this.blocked.size === 0) return;
    for (const s of this.blocked) {
      if (this.writer.congested || this.sendWindow <= 0) return;
      const q = s.queue;
      if (q === null || s.closed) {
        this.blocked.delete(s);
        continue;
      }
      while (q.length > 0) {
        const item = q[0] as QueuedSend;
        if (item.data !== null) {
          const n = Math.min(item.data.length, s.sendWindow, this.sendWindow);
          if (n < item.data.length || (n === 0 && item.data.length > 0)) {
            if (n > 0) {
              this.writeData(s, item.data.subarray(0, n), false);
              item.data = item.data.subarray(n);
            }
            break;
          }
          this.writeData(s, item.data, item.end);
        } else {
          this.writeHeaders(s, item.headers ?? [], item.end);
        }
        q.shift();
        if (this.writer.congested) break;
      }
      if (q.length === 0) {
        s.queue = null;
        this.blocked.delete(s);
        s.handler?.onDrain(s);
      } else if (this.writer.congested) {
        return;
      }
    }
  }

  /**
   * The peer's WINDOW_UPDATE for stream `s` (null: the connection) opened `inc` more bytes; what
   * it unblocks is written. Returns 0, or the error code of a bad update of a stream's window.
   * @throws ConnectionError for a bad update of the connection's window
   */
  grant(s: H2Stream | null, inc: number): number {
    if (s === null) {
      if (inc === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
      this.sendWindow += inc;
      if (this.sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "connection window overflow");
    } else {
      if (inc === 0) return ErrorCode.PROTOCOL_ERROR;
      if (s.sendWindow + inc > MAX_WINDOW) return ErrorCode.FLOW_CONTROL_ERROR;
      s.sendWindow += inc;
    }
    this.flushQueues();
    return 0;
  }

  /** The stream is closed: nothing of it is sent any more. */
  forget(s: H2Stream): void {
    this.blocked.delete(s);
  }

  /** The connection is gone. */
  clear(): void {
    this.blocked.clear();
  }
}
