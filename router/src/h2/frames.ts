/**
 * HTTP/2 frames (RFC 9113 §4, §6): the constants, a parser that cuts a byte stream into frames,
 * and encoders for the frames the router writes. Frame payloads are views into the received
 * chunk whenever a frame arrived whole, so forwarding DATA copies nothing.
 */

/** The connection preface a client sends first (RFC 9113 §3.4). */
export const CLIENT_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** Size of every frame header. */
export const FRAME_HEADER_SIZE = 9;
/** SETTINGS_MAX_FRAME_SIZE's initial value; the router never asks for larger frames. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** The initial flow-control window of a connection and of each stream (RFC 9113 §6.9.2). */
export const DEFAULT_WINDOW = 65_535;
/** The largest flow-control window (2^31 - 1). */
export const MAX_WINDOW = 0x7fff_ffff;

/** Frame types. */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags. */
export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** SETTINGS identifiers. */
export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** Error codes of RST_STREAM and GOAWAY. */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** A violation that ends the connection with GOAWAY carrying `code`. */
export class ConnectionError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** Receives each complete frame from a {@link FrameParser}. */
export type FrameSink = (type: number, flags: number, streamId: number, payload: Buffer) => void;

/** A frame longer than the receiver allows (a connection error, FRAME_SIZE_ERROR). */
export class FrameSizeError extends Error {}

/**
 * Cuts a TCP byte stream into frames. A frame contained in one chunk is handed on as a view of
 * that chunk; only a frame split across chunks is copied, once.
 */
export class FrameParser {
  private readonly sink: FrameSink;
  private readonly maxFrameSize: number;
  private pending: Buffer | null = null;

  /**
   * @param sink - called synchronously for every complete frame, in order
   * @param maxFrameSize - the SETTINGS_MAX_FRAME_SIZE this side advertised
   */
  constructor(sink: FrameSink, maxFrameSize = DEFAULT_MAX_FRAME_SIZE) {
    this.sink = sink;
    this.maxFrameSize = maxFrameSize;
  }

  /**
   * Feeds received bytes; emits every frame they complete.
   * @throws FrameSizeError for a frame over the maximum size
   */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let off = 0;
    const end = buf.length;
    while (end - off >= FRAME_HEADER_SIZE) {
      const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      if (len > this.maxFrameSize) throw new FrameSizeError(`frame of ${len} bytes exceeds the maximum frame size ${this.maxFrameSize}`);
      const total = FRAME_HEADER_SIZE + len;
      if (end - off < total) break;
      const type = buf[off + 3]!;
      const flags = buf[off + 4]!;
      const streamId = buf.readUInt32BE(off + 5) & MAX_WINDOW;
      this.sink(type, flags, streamId, buf.subarray(off + FRAME_HEADER_SIZE, off + total));
      off += total;
    }
    if (off < end) this.pending = off === 0 ? buf : buf.subarray(off);
  }
}

/** Writes a frame header into `buf` at `offset`. */
export function writeFrameHeader(buf: Buffer, offset: number, length: number, type: number, flags: number, streamId: number): void {
  buf[offset] = (length >>> 16) & 0xff;
  buf[offset + 1] = (length >>> 8) & 0xff;
  buf[offset + 2] = length & 0xff;
  buf[offset + 3] = type;
  buf[offset + 4] = flags;
  buf.writeUInt32BE(streamId, offset + 5);
}

/** A frame header on its own (its payload is written separately, uncopied). */
export function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  writeFrameHeader(b, 0, length, type, flags, streamId);
  return b;
}

/** A whole frame with a payload copied in. */
export function frame(type: number, flags: number, streamId: number, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE + payload.length);
  writeFrameHeader(b, 0, payload.length, type, flags, streamId);
  b.set(payload, FRAME_HEADER_SIZE);
  return b;
}

/** A SETTINGS frame carrying `settings` as [id, value] pairs (empty with ACK). */
export function settingsFrame(settings: ReadonlyArray<readonly [number, number]>, ack = false): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE + settings.length * 6);
  writeFrameHeader(b, 0, settings.length * 6, FrameType.SETTINGS, ack ? Flag.ACK : 0, 0);
  let off = FRAME_HEADER_SIZE;
  for (const [id, value] of settings) {
    b.writeUInt16BE(id, off);
    b.writeUInt32BE(value, off + 2);
    off += 6;
  }
  return b;
}

/** A WINDOW_UPDATE frame (stream 0 for the connection). */
export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 4);
  writeFrameHeader(b, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId);
  b.writeUInt32BE(increment, FRAME_HEADER_SIZE);
  return b;
}

/** An RST_STREAM frame. */
export function rstStreamFrame(streamId: number, code: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 4);
  writeFrameHeader(b, 0, 4, FrameType.RST_STREAM, 0, streamId);
  b.writeUInt32BE(code, FRAME_HEADER_SIZE);
  return b;
}

/** A GOAWAY frame with a debug text (never secrets: it reaches the peer). */
export function goawayFrame(lastStreamId: number, code: number, debug = ""): Buffer {
  const text = Buffer.from(debug, "utf8");
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 8 + text.length);
  writeFrameHeader(b, 0, 8 + text.length, FrameType.GOAWAY, 0, 0);
  b.writeUInt32BE(lastStreamId & MAX_WINDOW, FRAME_HEADER_SIZE);
  b.writeUInt32BE(code, FRAME_HEADER_SIZE + 4);
  text.copy(b, FRAME_HEADER_SIZE + 8);
  return b;
}

/** The acknowledgement of a PING, echoing its 8 bytes. */
export function pingAckFrame(payload: Buffer): Buffer {
  return frame(FrameType.PING, Flag.ACK, 0, payload);
}
