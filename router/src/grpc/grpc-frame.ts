/**
 * gRPC length-prefixed message framing: a 1-byte compressed flag, a 4-byte big-endian length,
 * then the message. HTTP/2 DATA chunks do not respect these boundaries: a message may be split
 * over several chunks and one chunk may hold several messages, so the reader below reassembles.
 */
import { GrpcStatus, RouterError } from "./grpc-status.ts";

/** Size of the gRPC message prefix (flag + length). */
export const FRAME_HEADER_BYTES = 5;

/** The framed empty message (used for TEI's `InfoRequest`, which has no fields). */
export const EMPTY_FRAME: Buffer = Buffer.alloc(FRAME_HEADER_BYTES);

/**
 * Reassembles gRPC messages from HTTP/2 DATA chunks.
 *
 * `read()` returns each complete message as one contiguous buffer *including* its 5-byte prefix,
 * so a plain TEI call can forward the exact bytes it received. When a chunk holds whole messages
 * (the common case) the result is a view into that chunk and nothing is copied; only a message
 * split across chunks is copied, once, when its last byte arrives.
 */
export class FrameReader {
  private readonly maxMessageBytes: number;
  private chunks: Buffer[] = [];
  private head: Buffer | null = null; // the first chunk, possibly partly consumed (offset)
  private offset = 0;
  private total = 0; // unconsumed bytes across head and chunks
  private expected = -1; // payload length of the message being assembled, -1 if unknown

  /** @param maxMessageBytes - messages longer than this are refused with RESOURCE_EXHAUSTED */
  constructor(maxMessageBytes: number) {
    this.maxMessageBytes = maxMessageBytes;
  }

  /** Bytes received that do not yet form a complete message. */
  get buffered(): number {
    return this.total;
  }

  /** Appends one DATA chunk. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.head === null) {
      this.head = chunk;
      this.offset = 0;
    } else {
      this.chunks.push(chunk);
    }
    this.total += chunk.length;
  }

  /**
   * Returns the next complete framed message, or null when more bytes are needed.
   * @throws RouterError for a compressed message (TEI accepts none), a bad flag, or an oversize
   *   message; the stream is unusable afterwards.
   */
  read(): Buffer | null {
    if (this.total < FRAME_HEADER_BYTES) return null;
    if (this.expected < 0) this.expected = this.peekHeader();
    const size = FRAME_HEADER_BYTES + this.expected;
    if (this.total < size) return null;
    const head = this.head as Buffer;
    let frame: Buffer;
    if (head.length - this.offset >= size) {
      frame = head.subarray(this.offset, this.offset + size);
      this.offset += size;
      if (this.offset === head.length) this.shift();
    } else {
      frame = Buffer.allocUnsafe(size);
      let filled = 0;
      while (filled < size) {
        const cur = this.head as Buffer;
        const take = Math.min(cur.length - this.offset, size - filled);
        cur.copy(frame, filled, this.offset, this.offset + take);
        filled += take;
        this.offset += take;
        if (this.offset === cur.length) this.shift();
      }
    }
    this.total -= size;
    this.expected = -1;
    return frame;
  }

  /** Drops the consumed head chunk and moves to the next. */
  private shift(): void {
    this.head = this.chunks.length > 0 ? (this.chunks.shift() as Buffer) : null;
    this.offset = 0;
  }

  /** Reads and checks the 5-byte prefix, which may itself straddle chunks. */
  private peekHeader(): number {
    const head = this.head as Buffer;
    let flag: number;
    let length: number;
    if (head.length - this.offset >= FRAME_HEADER_BYTES) {
      flag = head[this.offset] as number;
      length = head.readUInt32BE(this.offset + 1);
    } else {
      const bytes = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      let filled = 0;
      let cur: Buffer | undefined = head;
      let off = this.offset;
      let idx = -1;
      while (filled < FRAME_HEADER_BYTES && cur !== undefined) {
        const take = Math.min(cur.length - off, FRAME_HEADER_BYTES - filled);
        cur.copy(bytes, filled, off, off + take);
        filled += take;
        idx++;
        cur = this.chunks[idx];
        off = 0;
      }
      flag = bytes[0] as number;
      length = bytes.readUInt32BE(1);
    }
    if (flag === 1) {
      throw new RouterError(GrpcStatus.UNIMPLEMENTED, "compressed messages are not supported: TEI accepts only identity encoding");
    }
    if (flag !== 0) {
      throw new RouterError(GrpcStatus.INTERNAL, `invalid gRPC message prefix: flag byte ${flag}`);
    }
    if (length > this.maxMessageBytes) {
      throw new RouterError(GrpcStatus.RESOURCE_EXHAUSTED, `request message of ${length} bytes exceeds the router's limit of ${this.maxMessageBytes} bytes`);
    }
    return length;
  }
}

/** Wraps `payload[start, end)` in a gRPC message prefix, copying it into one new buffer. */
export function frameMessage(payload: Buffer, start: number, end: number): Buffer {
  const length = end - start;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  out[0] = 0;
  out.writeUInt32BE(length, 1);
  payload.copy(out, FRAME_HEADER_BYTES, start, end);
  return out;
}
