/**
 * An HTTP/2 client on a bare TCP socket for requests no HTTP/2 library would send: header names
 * with uppercase letters, connection-specific fields, pseudo-headers out of order, CR/LF in values,
 * trailers with pseudo-headers. Header blocks are written by hand as HPACK literals (RFC 7541
 * §6.2.2, no Huffman), so every byte is the test's own; answers are decoded with the router's
 * HPACK decoder, which hpack-interop.test.ts holds to node:http2.
 */
import { connect, type Socket } from "node:net";
import { ErrorCode, Flag, FrameParser, FrameType, frame, Setting, settingsFrame, windowUpdateFrame } from "../../src/h2/frames.ts";
import { HpackDecoder } from "../../src/h2/hpack-decoder.ts";

/** How the server ended one stream. */
export interface StreamOutcome {
  /** The RST_STREAM error code, when the server reset the stream. */
  reset?: number;
  /** Response headers (flat [name, value, ...]), when the server answered. */
  headers?: string[];
  /** Trailers, when the answer had them. */
  trailers?: string[];
  /** The GOAWAY error code, when the connection ended before the stream did. */
  goaway?: number;
}

/** What to send on one stream. */
export interface RawRequest {
  /** The request's header list, sent exactly as given (flat [name, value, ...]). */
  headers: string[];
  /** DATA payload; none: the HEADERS frame ends the stream (unless `trailers` follow). */
  body?: Buffer;
  /** A trailer section sent after the body, ending the stream. */
  trailers?: string[];
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
function hpackInt(out: number[], first: number, prefixBits: number, n: number): void {
  const max = (1 << prefixBits) - 1;
  if (n < max) {
    out.push(first | n);
    return;
  }
  out.push(first | max);
  n -= max;
  while (n >= 128) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
}

/** Every field as "literal without indexing, new name", raw strings, latin1. */
export function literalBlock(headers: readonly string[]): Buffer {
  const out: number[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    out.push(0x00);
    for (const s of [headers[i]!, headers[i + 1]!]) {
      hpackInt(out, 0x00, 7, s.length);
      for (let k = 0; k < s.length; k++) out.push(s.charCodeAt(k) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** One HTTP/2 connection to `port`; any number of requests may be in flight on it. */
export class H2SocketClient {
  private readonly socket: Socket;
  private readonly decoder = new HpackDecoder();
  private readonly parser: FrameParser;
  private nextId = 1;
  private readonly pending = new Map<number, { outcome: StreamOutcome; resolve: (o: StreamOutcome) => void }>();
  private closedWith: number | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.parser = new FrameParser((type, flags, id, payload) => this.onFrame(type, flags, id, payload));
    socket.on("data", (chunk: Buffer) => this.parser.push(chunk));
    socket.on("error", () => {});
    socket.on("close", () => this.endAll(this.closedWith ?? ErrorCode.CONNECT_ERROR));
  }

  /** Connects, sends the preface and SETTINGS (large windows, so answers never wait on us). */
  static connect(port: number): Promise<H2SocketClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port }, () => {
        socket.off("error", reject);
        const c = new H2SocketClient(socket);
        socket.write(
          Buffer.concat([
            Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"),
            settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 1 << 24]]),
            windowUpdateFrame(0, 1 << 30),
          ]),
        );
        resolve(c);
      });
      socket.once("error", reject);
    });
  }

  /** Sends one request on a new stream and resolves with how the server ended it. */
  request(req: RawRequest): Promise<StreamOutcome> {
    const id = this.nextId;
    this.nextId += 2;
    const result = new Promise<StreamOutcome>((resolve) => this.pending.set(id, { outcome: {}, resolve }));
    const endsWithHeaders = req.body === undefined && req.trailers === undefined;
    const frames = [frame(FrameType.HEADERS, Flag.END_HEADERS | (endsWithHeaders ? Flag.END_STREAM : 0), id, literalBlock(req.headers))];
    if (req.body !== undefined) frames.push(frame(FrameType.DATA, req.trailers === undefined ? Flag.END_STREAM : 0, id, req.body));
    if (req.trailers !== undefined) frames.push(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, literalBlock(req.trailers)));
    this.socket.write(Buffer.concat(frames));
    return result;
  }

  close(): void {
    this.socket.destroy();
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    switch (type) {
      case FrameType.SETTINGS:
        if ((flags & Flag.ACK) === 0) this.socket.write(settingsFrame([], true));
        return;
      case FrameType.PING:
        if ((flags & Flag.ACK) === 0) this.socket.write(frame(FrameType.PING, Flag.ACK, 0, payload));
        return;
      case FrameType.GOAWAY:
        this.closedWith = payload.readUInt32BE(4);
        this.endAll(this.closedWith);
        return;
      case FrameType.RST_STREAM:
        this.end(id, (o) => (o.reset = payload.readUInt32BE(0)));
        return;
      case FrameType.HEADERS: {
        // The router sends whole blocks (END_HEADERS) without padding or priority.
        const fields = this.decoder.decode(payload);
        const p = this.pending.get(id);
        if (p === undefined) return;
        if (p.outcome.headers === undefined) p.outcome.headers = fields;
        else p.outcome.trailers = fields;
        if ((flags & Flag.END_STREAM) !== 0) this.end(id, () => {});
        return;
      }
      case FrameType.DATA:
        if ((flags & Flag.END_STREAM) !== 0) this.end(id, () => {});
        return;
      default:
        return;
    }
  }

  private end(id: number, note: (o: StreamOutcome) => void): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    note(p.outcome);
    p.resolve(p.outcome);
  }

  private endAll(goaway: number): void {
    for (const id of [...this.pending.keys()]) this.end(id, (o) => (o.goaway = goaway));
  }
}
