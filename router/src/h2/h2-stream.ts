/**
 * One HTTP/2 stream of an H2Connection: its flow-control windows, what is queued for it, and
 * which way it is still open. The connection drives it; the handler that owns it (a proxied
 * call) receives its events and calls the connection to send.
 *
 * The stream knows its connection only as a {@link StreamConnection} (what an owner may ask of
 * it), so this file does not depend on h2-connection.ts, which depends on it.
 */

/** What a stream's owner may ask of the connection the stream belongs to; H2Connection implements it. */
export interface StreamConnection {
  /** Sends response headers, or trailers with `endStream`; queued behind data already queued. */
  sendHeaders(s: H2Stream, headers: readonly string[], endStream: boolean): void;
  /**
   * Sends DATA. Returns true when all of it was written; false when some waits for the peer's
   * window or the socket (the handler's `onDrain` follows once the queue is empty).
   */
  sendData(s: H2Stream, data: Buffer, endStream: boolean): boolean;
  /** Resets a stream (no-op when already closed). */
  reset(s: H2Stream, code: number): void;
  /** Credits `n` received bytes of stream `s` (null: the connection only) back to the peer, once they went on. */
  consume(s: H2Stream | null, n: number): void;
}

/** What a stream's owner is told. Calls arrive synchronously from the connection's parser. */
export interface StreamHandler {
  /** Response headers (client side), or trailers (either side). */
  onHeaders(stream: H2Stream, headers: string[], endStream: boolean): void;
  /**
   * A DATA payload. The owner must call `stream.conn.consume(stream, data.length)` once it has
   * passed the bytes on: that is what re-opens the peer's flow-control window.
   */
  onData(stream: H2Stream, data: Buffer, endStream: boolean): void;
  /**
   * The stream is closed without ending normally: the peer reset it (`byPeer`: its RST_STREAM
   * carried `code`), or this side did (the connection is gone, a GOAWAY left it unprocessed, the
   * peer broke a rule on it).
   */
  onReset(stream: H2Stream, code: number, reason: string, byPeer: boolean): void;
  /** Everything that was queued on the stream has been written (after `sendData` returned false). */
  onDrain(stream: H2Stream): void;
}

/** A queued send: DATA bytes, or a header block (trailers must follow the data queued before them). */
export interface QueuedSend {
  data: Buffer | null;
  headers: readonly string[] | null;
  end: boolean;
}

/** A stream's state; fields are managed by its connection. */
export class H2Stream {
  /** The stream id; 0 while a client stream waits for a free slot (peer's MAX_CONCURRENT_STREAMS). */
  id = 0;
  /** The connection the stream belongs to: send on the stream through it. */
  readonly conn: StreamConnection;
  handler: StreamHandler | null;
  /** Bytes this side may still send on the stream. */
  sendWindow: number;
  /** Bytes the peer may still send on the stream. */
  recvWindow: number;
  /** Bytes received and passed on but not yet credited back with WINDOW_UPDATE. */
  unacked = 0;
  /** Sends waiting for flow-control window or for the socket to drain; null when none. */
  queue: QueuedSend[] | null = null;
  /** This side sent END_STREAM (or reset). */
  localEnded = false;
  /** The peer sent END_STREAM (or reset). */
  remoteEnded = false;
  /** Closed both ways or reset: forgotten by the connection. */
  closed = false;
  /** Headers already received on the stream (so the next block is trailers). */
  headersReceived = false;

  /** Created by H2Connection only. */
  constructor(conn: StreamConnection, handler: StreamHandler | null, sendWindow: number, recvWindow: number) {
    this.conn = conn;
    this.handler = handler;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }
}

/** The value of header `name` in a flat [name, value, ...] list (first occurrence). */
export function headerValue(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}
