/**
 * The client side of an HTTP/2 connection: the router toward one TEI backend. Opens streams
 * with odd ids, keeps within the backend's SETTINGS_MAX_CONCURRENT_STREAMS by letting extra
 * streams wait for a slot, and on GOAWAY fails the streams the backend never processed (their
 * owners may retry them elsewhere).
 */
import type { Socket } from "node:net";
import { CLIENT_PREFACE, ErrorCode, FrameType, frame, MAX_WINDOW, Setting } from "./frames.ts";
import { H2Connection, type H2ConnectionOptions } from "./h2-connection.ts";
import { H2Stream, type StreamHandler } from "./h2-stream.ts";

/** Options of the client side. */
export interface H2ClientOptions extends H2ConnectionOptions {
  /**
   * With streams open, a connection silent for this long is sent a PING, and one silent for
   * another period is closed (its streams are reset, so their calls can fail over). 0: never.
   */
  keepaliveMs: number;
}

const PING = frame(FrameType.PING, 0, 0, Buffer.alloc(8));

interface WaitingStream {
  stream: H2Stream;
  headers: readonly string[];
  end: boolean;
}

/** An HTTP/2 connection this side opened. */
export class H2ClientConnection extends H2Connection {
  private nextStreamId = 1;
  /** Streams waiting for a free slot under the peer's concurrency limit. */
  private readonly waiting: WaitingStream[] = [];

  private pingSent = false;

  /** Takes over a socket (connected or connecting); server push is refused. */
  constructor(socket: Socket, opts: H2ClientOptions) {
    super(socket, opts, [[Setting.ENABLE_PUSH, 0]], CLIENT_PREFACE);
    if (opts.keepaliveMs > 0) {
      const timer = setInterval(() => this.checkAlive(opts.keepaliveMs), opts.keepaliveMs);
      timer.unref();
      socket.once("close", () => clearInterval(timer));
    }
  }

  /**
   * Liveness of a connection with calls open: a backend host that vanished without a TCP reset
   * would otherwise hold its calls until their deadlines (or forever without one). Any frame
   * counts as a sign of life, so a busy connection never sends a PING.
   */
  private checkAlive(periodMs: number): void {
    if (this.heard || this.active === 0) {
      this.heard = false;
      this.pingSent = false;
      return;
    }
    if (!this.pingSent) {
      this.pingSent = true;
      this.write(PING);
      return;
    }
    // Timers run before I/O in each turn of the event loop: after a stall of this process an
    // answer may already wait in the socket. Decide after this turn's I/O has been read.
    setImmediate(() => {
      if (!this.heard && !this.ended) this.fatal(ErrorCode.CANCEL, `backend silent for ${(2 * periodMs) / 1000} s, PING unanswered`);
    });
  }

  /** False once GOAWAY was sent or received, the socket is gone, or stream ids ran out. */
  get canOpenStreams(): boolean {
    return !this.goingAway && !this.ended && this.nextStreamId < MAX_WINDOW - 2;
  }

  /**
   * Opens a stream with request headers. Under the peer's concurrency limit the stream waits
   * (id 0) and is opened when a slot frees; sends on it queue meanwhile.
   * @throws Error when the connection takes no new streams (check `canOpenStreams`)
   */
  openStream(headers: readonly string[], handler: StreamHandler, endStream = false): H2Stream {
    if (!this.canOpenStreams) throw new Error("connection is closing");
    const s = new H2Stream(this, handler, this.peerStreamWindow, this.opts.streamWindow);
    if (this.active >= this.peerMaxStreams) {
      s.queue = [];
      this.waiting.push({ stream: s, headers, end: endStream });
      return s;
    }
    this.activate(s, headers, endStream);
    return s;
  }

  private activate(s: H2Stream, headers: readonly string[], endStream: boolean): void {
    s.id = this.nextStreamId;
    this.nextStreamId += 2;
    this.streams.set(s.id, s);
    this.active++;
    this.writeHeaders(s, headers, endStream);
  }

  protected override isIdlePeerStream(): boolean {
    return false;
  }

  /** A late answer on a stream this side already reset: ignored. */
  protected override onNewStream(): void {}

  protected override onStreamSlotsChanged(): void {
    while (this.waiting.length > 0 && this.active < this.peerMaxStreams && this.canOpenStreams) {
      const w = this.waiting.shift() as WaitingStream;
      if (w.stream.closed) continue;
      const queued = w.stream.queue ?? [];
      w.stream.queue = null;
      this.activate(w.stream, w.headers, w.end);
      for (const item of queued) {
        if (item.data !== null) this.sendData(w.stream, item.data, item.end);
        else this.sendHeaders(w.stream, item.headers ?? [], item.end);
      }
      if (queued.length > 0 && w.stream.queue === null) w.stream.handler?.onDrain(w.stream);
    }
  }

  protected override onGoawayReceived(lastStreamId: number): void {
    for (const s of [...this.streams.values()]) {
      if (s.id > lastStreamId) {
        this.closeStream(s);
        s.handler?.onReset(s, ErrorCode.REFUSED_STREAM, "connection closing (GOAWAY) before the stream was processed", false);
      }
    }
    this.failWaiting("connection closing (GOAWAY)");
  }

  protected override onClosed(reason: string): void {
    this.failWaiting(reason);
  }

  protected override idleExtra(): boolean {
    return this.waiting.length === 0;
  }

  private failWaiting(reason: string): void {
    for (const w of this.waiting.splice(0)) {
      if (w.stream.closed) continue;
      w.stream.closed = true;
      w.stream.handler?.onReset(w.stream, ErrorCode.REFUSED_STREAM, reason, false);
    }
  }
}
