/**
 * An HTTP/2 connection on a plain TCP socket (h2c, prior knowledge): what both sides share.
 * The router serves clients as the server side (h2-server-connection.ts) and reaches TEI
 * backends as the client side (h2-client-connection.ts).
 *
 * Why not node:http2: at concurrency 1 its per-stream machinery (stream objects, nghttp2
 * callbacks, several JS/C++ crossings and ticks per frame) costs the router several hundred
 * microseconds of CPU per call on this class of machine. The router needs far less: it forwards
 * DATA payloads untouched, reads a few headers, and relays flow control. This class does just
 * that: frames are parsed in one pass over each received chunk, streams are plain objects with
 * a handler, and everything written while handling one chunk leaves in one socket write.
 *
 * Flow control is end to end: the owner of a stream credits the peer (`consume`) only once the
 * bytes went on, and `sendData` queues what the peer's windows or a full socket do not take,
 * telling the owner `onDrain` when the queue is empty again. So a slow reader on one side
 * slows the writer on the other instead of filling the router's memory.
 */
import type { Socket } from "node:net";
import { BatchedWriter } from "./batched-writer.ts";
import { checkPing, connectionErrorCode, dataPayload, goawayOf, peerSettings, rstStreamCode, windowIncrement } from "./frame-payloads.ts";
import {
  ConnectionError,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FrameParser,
  FrameType,
  goawayFrame,
  pingAckFrame,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "./frames.ts";
import type { H2Stream, StreamConnection } from "./h2-stream.ts";
import { HeaderBlockReader } from "./header-block-reader.ts";
import { HpackDecoder } from "./hpack-decoder.ts";
import { InboundFlow } from "./inbound-flow.ts";
import { OutboundFlow } from "./outbound-flow.ts";
import { headerListSize, isCheapForPeer } from "./peer-limits.ts";

/** How a connection is set up; windows are what this side grants its peer. */
export interface H2ConnectionOptions {
  /** Per-stream window granted to the peer (SETTINGS_INITIAL_WINDOW_SIZE). */
  streamWindow: number;
  /** Connection window granted to the peer. */
  connectionWindow: number;
  /** Largest header block accepted, in bytes, as received (a connection error beyond it). Default 64 KiB. */
  maxHeaderBlockBytes?: number;
  /**
   * Largest decoded header list, counted as RFC 9113's SETTINGS_MAX_HEADER_LIST_SIZE does (name +
   * value + 32 per field); a stream beyond it is refused with ENHANCE_YOUR_CALM (gRPC clients
   * report RESOURCE_EXHAUSTED). Default 64 KiB.
   */
  maxHeaderListBytes?: number;
  /**
   * The socket's creator hands its bytes to {@link H2Connection.receive} (net's `onread` with a slab
   * reader, slab-reader.ts: no Readable machinery per read) instead of the connection listening for
   * 'data'. Default false.
   */
  ownReads?: boolean;
  /** The peer sent GOAWAY (no new streams; streams above `lastStreamId` were reset). */
  onGoaway?(conn: H2Connection, code: number): void;
  /** The socket closed; every open stream has been told `onReset`. */
  onClose?(conn: H2Connection, reason: string): void;
}

/** One HTTP/2 connection, either side; see the file comment. */
export abstract class H2Connection implements StreamConnection {
  readonly socket: Socket;
  protected readonly opts: H2ConnectionOptions;
  private readonly parser: FrameParser;
  private readonly decoder: HpackDecoder;
  protected readonly streams = new Map<number, H2Stream>();
  private readonly writer: BatchedWriter;
  private readonly outbound: OutboundFlow;
  private readonly inbound: InboundFlow;
  private readonly blocks: HeaderBlockReader;
  // Settings of the peer (its windows and frame size live in `outbound`).
  protected peerStreamWindow = DEFAULT_WINDOW;
  protected peerMaxStreams = Number.MAX_SAFE_INTEGER;
  /** Highest stream id the peer opened (server side), for GOAWAY. */
  protected lastPeerStream = 0;
  /** Streams open now. */
  protected active = 0;
  /** GOAWAY sent or received: no new streams. */
  protected goingAway = false;
  protected ended = false;
  private socketError: string | undefined;
  /** Something arrived since the last keepalive check (set per chunk: free on the hot path). */
  protected heard = false;
  /** Classify frames for `noteCheapFrame` (server side only: backends are trusted). */
  protected budgetsCheapFrames = false;

  /**
   * Takes over `socket` (connected or connecting) and writes `preface` (client side), this
   * side's SETTINGS and the connection window at once.
   */
  protected constructor(socket: Socket, opts: H2ConnectionOptions, settings: Array<[number, number]>, preface: Buffer | null) {
    this.socket = socket;
    this.opts = opts;
    this.decoder = new HpackDecoder();
    this.parser = new FrameParser((t, f, id, p) => this.onFrame(t, f, id, p));
    this.blocks = new HeaderBlockReader((id, f, block) => this.onHeaderBlock(id, f, block), opts.maxHeaderBlockBytes ?? 65_536);
    this.writer = new BatchedWriter(socket, () => this.outbound.flushQueues());
    this.outbound = new OutboundFlow(this.writer, (s) => this.endLocal(s));
    this.inbound = new InboundFlow(this.writer, opts.connectionWindow, opts.streamWindow);
    if (preface !== null) this.write(preface);
    this.write(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, opts.streamWindow], ...settings]));
    if (opts.connectionWindow > DEFAULT_WINDOW) this.write(windowUpdateFrame(0, opts.connectionWindow - DEFAULT_WINDOW));
    if (opts.ownReads !== true) socket.on("data", (chunk: Buffer) => this.receive(chunk));
    // 'close' follows an error and carries its consequences, naming it.
    socket.on("error", (err: Error) => (this.socketError ??= err.message));
    socket.on("close", () => this.onSocketClose(this.socketError ?? "connection closed"));
  }

  /** True once the socket closed. */
  get closed(): boolean {
    return this.ended;
  }

  // ---- sending ----

  /** Sends response headers, or trailers with `endStream`. Queued behind data already queued. */
  sendHeaders(s: H2Stream, headers: readonly string[], endStream: boolean): void {
    this.outbound.sendHeaders(s, headers, endStream);
  }

  /**
   * Sends DATA. Returns true when all of it was written; false when some waits for the peer's
   * window or the socket (the handler's `onDrain` follows once the queue is empty).
   */
  sendData(s: H2Stream, data: Buffer, endStream: boolean): boolean {
    return this.outbound.sendData(s, data, endStream);
  }

  /** Resets a stream (no-op when already closed). */
  reset(s: H2Stream, code: number): void {
    if (s.closed) return;
    if (s.id !== 0) this.write(rstStreamFrame(s.id, code));
    this.closeStream(s);
  }

  /**
   * Credits `n` received bytes of stream `s` back to the peer: call once they went on.
   * WINDOW_UPDATE is sent when half a window has been used, so small calls send none.
   */
  consume(s: H2Stream | null, n: number): void {
    if (n !== 0 && !this.ended) this.inbound.consume(s, n);
  }

  /** Sends GOAWAY: open streams finish, new ones are refused; the socket closes when idle. */
  goaway(code: number = ErrorCode.NO_ERROR, debug = ""): void {
    if (this.ended) return;
    if (!this.goingAway || code !== ErrorCode.NO_ERROR) this.write(goawayFrame(this.lastPeerStream, code, debug));
    this.goingAway = true;
    this.closeIfIdle();
  }

  /** Closes the socket now; open streams are told `onReset`. */
  destroy(): void {
    this.socket.destroy();
  }

  /** Writes a header block now (a new client stream's request headers). */
  protected writeHeaders(s: H2Stream, headers: readonly string[], endStream: boolean): void {
    this.outbound.writeHeaders(s, headers, endStream);
  }

  /** Queues bytes for the socket; see batched-writer.ts. */
  protected write(buf: Buffer): void {
    this.writer.write(buf);
  }

  // ---- receiving ----

  /**
   * Bytes received on the socket, in order (the 'data' listener, or the socket's creator with
   * `ownReads`). The chunk's memory must not be reused: frames are handed on as views into it.
   */
  receive(chunk: Buffer): void {
    if (this.ended) return;
    this.heard = true;
    try {
      this.acceptBytes(chunk);
    } catch (err) {
      this.fatal(connectionErrorCode(err), err instanceof Error ? err.message : String(err));
    }
  }

  /** Feeds received bytes to the frame parser (the server side checks the preface first). */
  protected acceptBytes(chunk: Buffer): void {
    if (chunk.length > 0) this.parser.push(chunk);
  }

  private onFrame(type: number, flags: number, id: number, p: Buffer): void {
    if (this.blocks.inBlock && type !== FrameType.CONTINUATION) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "a header block was interrupted by another frame");
    }
    if (this.budgetsCheapFrames && isCheapForPeer(type, flags, p)) this.noteCheapFrame();
    switch (type) {
      case FrameType.DATA:
        this.onData(flags, id, p);
        return;
      case FrameType.HEADERS:
        this.blocks.headers(flags, id, p);
        return;
      case FrameType.CONTINUATION:
        this.blocks.continuation(flags, id, p);
        return;
      case FrameType.RST_STREAM:
        this.onRstStream(id, p);
        return;
      case FrameType.SETTINGS:
        this.onSettings(flags, id, p);
        return;
      case FrameType.PING:
        checkPing(id, p);
        if ((flags & Flag.ACK) === 0) this.write(pingAckFrame(p));
        return;
      case FrameType.GOAWAY:
        this.onGoaway(p);
        return;
      case FrameType.WINDOW_UPDATE:
        this.onWindowUpdate(id, p);
        return;
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE is disabled");
      default:
        return; // PRIORITY and unknown frame types are ignored (RFC 9113 §5.5)
    }
  }

  private onData(flags: number, id: number, p: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
    const len = p.length;
    if (!this.inbound.takeConnection(len)) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "peer exceeded the connection window");
    const data = dataPayload(flags, p);
    const s = this.streams.get(id);
    if (s === undefined || s.remoteEnded || s.handler === null) {
      this.consume(null, len); // a stream already closed or reset: keep the connection window open
      if (s === undefined && this.isIdlePeerStream(id)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream");
      return;
    }
    if (!this.inbound.takeStream(s, len)) {
      this.consume(null, len);
      this.reset(s, ErrorCode.FLOW_CONTROL_ERROR);
      s.handler.onReset(s, ErrorCode.FLOW_CONTROL_ERROR, "peer exceeded the stream window", false);
      return;
    }
    if (len > data.length) this.consume(s, len - data.length); // padding is not the owner's business
    const end = (flags & Flag.END_STREAM) !== 0;
    if (end) this.endRemote(s);
    s.handler.onData(s, data, end);
  }

  private onHeaderBlock(id: number, flags: number, block: Buffer): void {
    // Decoded even for streams that are gone: the HPACK table is shared by the connection.
    const headers = this.decoder.decode(block);
    const end = (flags & Flag.END_STREAM) !== 0;
    const s = this.streams.get(id);
    if (headerListSize(headers) > (this.opts.maxHeaderListBytes ?? 65_536)) {
      // A small block can decode to a huge list by naming one table entry many times (an HPACK
      // bomb): the stream is refused, the connection (its HPACK state intact) lives on.
      if (s !== undefined) {
        this.reset(s, ErrorCode.ENHANCE_YOUR_CALM);
        s.handler?.onReset(s, ErrorCode.ENHANCE_YOUR_CALM, "header list too large", false);
      } else {
        this.refuseNewStream(id);
      }
      return;
    }
    if (s !== undefined) {
      if (s.remoteEnded) return;
      const malformed = this.checkLaterHeaders(headers, end);
      if (malformed !== null) {
        this.reset(s, ErrorCode.PROTOCOL_ERROR);
        s.handler?.onReset(s, ErrorCode.PROTOCOL_ERROR, malformed, false);
        return;
      }
      s.headersReceived = true;
      if (end) this.endRemote(s);
      s.handler?.onHeaders(s, headers, end);
      return;
    }
    this.onNewStream(id, headers, end);
  }

  /**
   * A header block on a stream id this side does not know: a new stream from a client (server
   * side), or the late answer of a stream this side already reset (client side: ignored).
   */
  protected abstract onNewStream(id: number, headers: string[], endStream: boolean): void;

  /**
   * Why a header block on a stream already open is malformed, or null (server side: request
   * trailers; the client side trusts its backends' answers). A malformed one resets the stream
   * with PROTOCOL_ERROR (RFC 9113 §8.1.1).
   */
  protected checkLaterHeaders(_headers: readonly string[], _endStream: boolean): string | null {
    return null;
  }

  /** Refuses a stream id this side does not know without opening it (server side: a new one). */
  protected refuseNewStream(id: number): void {
    this.write(rstStreamFrame(id, ErrorCode.ENHANCE_YOUR_CALM));
  }

  /** True when `id` is a stream the peer could open but has not (DATA on it is an error). */
  protected abstract isIdlePeerStream(id: number): boolean;

  /**
   * A frame that costs the peer nothing but this side some work (a reset, a PING, SETTINGS, an
   * empty DATA frame...); the server side bounds their rate, see h2-server-connection.ts.
   */
  protected noteCheapFrame(): void {}

  private onRstStream(id: number, p: Buffer): void {
    const code = rstStreamCode(id, p);
    const s = this.streams.get(id);
    if (s === undefined) return;
    this.closeStream(s);
    s.handler?.onReset(s, code, `stream reset by peer (HTTP/2 code ${code})`, true);
  }

  private onSettings(flags: number, id: number, p: Buffer): void {
    const settings = peerSettings(flags, id, p);
    if (settings === null) return;
    for (const [key, value] of settings) {
      if (key === Setting.INITIAL_WINDOW_SIZE) {
        const delta = value - this.peerStreamWindow;
        this.peerStreamWindow = value;
        for (const s of this.streams.values()) s.sendWindow += delta;
      } else if (key === Setting.MAX_FRAME_SIZE) {
        this.outbound.maxFrameSize = value;
      } else if (key === Setting.MAX_CONCURRENT_STREAMS) {
        this.peerMaxStreams = value;
      } else if (key === Setting.HEADER_TABLE_SIZE) {
        this.outbound.encoder.setPeerMaxTableSize(value);
      }
    }
    this.write(settingsFrame([], true));
    this.outbound.flushQueues();
    this.onStreamSlotsChanged();
  }

  private onGoaway(p: Buffer): void {
    const { lastStreamId, code } = goawayOf(p);
    this.goingAway = true;
    this.onGoawayReceived(lastStreamId);
    this.opts.onGoaway?.(this, code);
    this.closeIfIdle();
  }

  private onWindowUpdate(id: number, p: Buffer): void {
    const inc = windowIncrement(p);
    const s = id === 0 ? null : this.streams.get(id);
    if (s === undefined) return;
    const error = this.outbound.grant(s, inc);
    if (error !== 0 && s !== null) {
      this.reset(s, error);
      s.handler?.onReset(s, error, "bad WINDOW_UPDATE", false);
    }
  }

  // ---- stream and connection lifecycle ----

  private endLocal(s: H2Stream): void {
    s.localEnded = true;
    // The end of the only stream open is what its peer waits for (a backend for the request, a
    // client for the answer): it leaves now, and the call's bookkeeping (metrics, closing the
    // streams) and Node's ticks run while the peer works, instead of before the write. With
    // other streams open the batch waits for the end of the event, as one write for all of them.
    if (this.active <= 1) this.writer.flush();
    if (s.remoteEnded) this.closeStream(s);
  }

  private endRemote(s: H2Stream): void {
    s.remoteEnded = true;
    if (s.localEnded) this.closeStream(s);
  }

  protected closeStream(s: H2Stream): void {
    if (s.closed) return;
    s.closed = true;
    s.localEnded = true;
    s.remoteEnded = true;
    s.queue = null;
    this.outbound.forget(s);
    if (s.id === 0) return; // still waiting for a slot: never counted
    if (this.streams.delete(s.id)) this.active--;
    this.onStreamSlotsChanged();
    if (this.goingAway) this.closeIfIdle();
  }

  /** The peer's stream limit or the number of open streams changed (client side opens waiting streams). */
  protected onStreamSlotsChanged(): void {}

  /** The peer sent GOAWAY: streams above `lastStreamId` were never processed. */
  protected onGoawayReceived(_lastStreamId: number): void {}

  /** The connection is gone; open streams were told already. */
  protected onClosed(_reason: string): void {}

  protected closeIfIdle(): void {
    if (this.goingAway && this.active === 0 && this.idleExtra() && !this.ended) {
      queueMicrotask(() => {
        if (this.active === 0) this.socket.end();
      });
    }
  }

  /** True when nothing beyond open streams keeps the connection busy (client side: waiting streams). */
  protected idleExtra(): boolean {
    return true;
  }

  /** A connection error: GOAWAY with the code and reason, then the socket closes. */
  protected fatal(code: number, reason: string): void {
    if (this.ended) return;
    this.write(goawayFrame(this.lastPeerStream, code, reason));
    this.writer.flush();
    this.goingAway = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.onSocketClose(reason);
  }

  private onSocketClose(reason = "connection closed"): void {
    if (this.ended) return;
    this.ended = true;
    this.writer.stop();
    const open = [...this.streams.values()];
    this.streams.clear();
    this.outbound.clear();
    this.active = 0;
    for (const s of open) {
      s.closed = true;
      s.localEnded = true;
      s.remoteEnded = true;
      s.handler?.onReset(s, ErrorCode.CONNECT_ERROR, reason, false);
    }
    this.onClosed(reason);
    this.opts.onClose?.(this, reason);
  }
}
