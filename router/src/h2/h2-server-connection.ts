/**
 * The server side of an HTTP/2 connection: a gRPC client of the router. Checks the client's
 * connection preface, accepts the streams it opens (up to the announced limit), resets the
 * malformed ones (request-headers.ts) and hands the others to `onStream`.
 */
import type { Socket } from "node:net";
import { CLIENT_PREFACE, ConnectionError, ErrorCode, rstStreamFrame, Setting } from "./frames.ts";
import { H2Connection, type H2ConnectionOptions } from "./h2-connection.ts";
import { H2Stream } from "./h2-stream.ts";
import { CheapFrameBudget } from "./peer-limits.ts";
import { malformedRequest, malformedTrailers } from "./request-headers.ts";

/** How long a client may take to send the connection preface. */
const PREFACE_TIMEOUT_MS = 10_000;

/** Options of the server side. */
export interface H2ServerOptions extends H2ConnectionOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS announced to the client; streams beyond it are refused. */
  maxConcurrentStreams: number;
  /**
   * The client opened a stream with a well-formed request (RFC 9113 §8.2, §8.3). Set
   * `stream.handler`, or the stream is refused.
   */
  onStream(stream: H2Stream, headers: string[], endStream: boolean): void;
  /**
   * A request or its trailers were malformed; the stream was reset with PROTOCOL_ERROR and never
   * reached `onStream` (or its handler was told `onReset`). For metrics and logs.
   */
  onMalformed?(reason: string): void;
}

/** An HTTP/2 connection accepted from a client. */
export class H2ServerConnection extends H2Connection {
  private readonly serverOpts: H2ServerOptions;
  /** Bytes of the client preface still expected. */
  private prefaceLeft = CLIENT_PREFACE.length;
  private readonly cheapFrames = new CheapFrameBudget();

  /** Takes over an accepted socket. */
  constructor(socket: Socket, opts: H2ServerOptions) {
    super(socket, opts, [[Setting.MAX_CONCURRENT_STREAMS, opts.maxConcurrentStreams]], null);
    this.serverOpts = opts;
    this.budgetsCheapFrames = true;
    // A peer that connects and never says it speaks HTTP/2 must not hold a socket forever.
    const timer = setTimeout(() => {
      if (this.prefaceLeft > 0) this.fatal(ErrorCode.PROTOCOL_ERROR, "no HTTP/2 connection preface within 10 s");
    }, PREFACE_TIMEOUT_MS);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
  }

  protected override acceptBytes(chunk: Buffer): void {
    if (this.prefaceLeft > 0) {
      const done = CLIENT_PREFACE.length - this.prefaceLeft;
      const n = Math.min(this.prefaceLeft, chunk.length);
      for (let i = 0; i < n; i++) {
        if (chunk[i] !== CLIENT_PREFACE[done + i]) {
          throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "not an HTTP/2 connection preface (this port speaks gRPC over h2c)");
        }
      }
      this.prefaceLeft -= n;
      chunk = chunk.subarray(n);
    }
    super.acceptBytes(chunk);
  }

  protected override refuseNewStream(id: number): void {
    // Stream ids only grow: a refused new stream still counts as opened.
    if ((id & 1) === 1 && id > this.lastPeerStream) this.lastPeerStream = id;
    super.refuseNewStream(id);
  }

  protected override noteCheapFrame(): void {
    if (!this.cheapFrames.take(Date.now())) {
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "too many resets, PINGs or other empty frames");
    }
  }

  protected override checkLaterHeaders(headers: readonly string[], endStream: boolean): string | null {
    const malformed = malformedTrailers(headers, endStream);
    if (malformed !== null) this.noteMalformed(malformed);
    return malformed;
  }

  /**
   * A stream this side resets because the client made it malformed. Such a reset costs the
   * client one HEADERS frame, so it counts against the budget of the client's own resets: a
   * client must not get around the Rapid Reset bound by having this side reset its streams
   * ("MadeYouReset", 2025).
   */
  private noteMalformed(reason: string): void {
    this.noteCheapFrame();
    this.serverOpts.onMalformed?.(reason);
  }

  protected override isIdlePeerStream(id: number): boolean {
    return id > this.lastPeerStream;
  }

  protected override onNewStream(id: number, headers: string[], endStream: boolean): void {
    if ((id & 1) === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `stream id ${id} is not a client stream`);
    // Trailers racing this side's RST_STREAM arrive on a stream already forgotten: ignored (RFC 9113 §5.1).
    if (id <= this.lastPeerStream) return;
    this.lastPeerStream = id;
    if (this.goingAway || this.active >= this.serverOpts.maxConcurrentStreams) {
      this.write(rstStreamFrame(id, ErrorCode.REFUSED_STREAM));
      return;
    }
    const malformed = malformedRequest(headers);
    if (malformed !== null) {
      // A stream error (RFC 9113 §8.1.1), never forwarded: the client's mistake, so no backend
      // can be blamed for it. The connection and its other streams live on.
      this.noteMalformed(malformed);
      this.write(rstStreamFrame(id, ErrorCode.PROTOCOL_ERROR));
      return;
    }
    const s = new H2Stream(this, null, this.peerStreamWindow, this.opts.streamWindow);
    s.id = id;
    s.headersReceived = true;
    s.remoteEnded = endStream;
    this.streams.set(id, s);
    this.active++;
    this.serverOpts.onStream(s, headers, endStream);
    if (s.handler === null && !s.closed) this.reset(s, ErrorCode.REFUSED_STREAM);
  }
}
