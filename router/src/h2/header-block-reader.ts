/**
 * Assembles header blocks from HEADERS and CONTINUATION frames (RFC 9113 §6.2, §6.10): strips
 * padding and priority fields, joins fragments, bounds the size, and insists that nothing else
 * interrupts a block.
 */
import { ConnectionError, ErrorCode, Flag } from "./frames.ts";

/**
 * CONTINUATION frames one block may take. Empty ones do not grow the block, so without a count a
 * peer could send them forever (the "CONTINUATION flood" of 2024); real blocks need a handful.
 */
const MAX_CONTINUATIONS = 64;

/** Receives each complete block with the flags of its HEADERS frame. */
export type HeaderBlockSink = (streamId: number, flags: number, block: Buffer) => void;

/** The header-block state of one connection. */
export class HeaderBlockReader {
  private readonly sink: HeaderBlockSink;
  private readonly maxBytes: number;
  private stream = 0;
  private flags = 0;
  private parts: Buffer[] = [];
  private bytes = 0;
  private continuations = 0;

  /** @param maxBytes - largest block accepted (ENHANCE_YOUR_CALM beyond it) */
  constructor(sink: HeaderBlockSink, maxBytes: number) {
    this.sink = sink;
    this.maxBytes = maxBytes;
  }

  /** True between a HEADERS frame without END_HEADERS and the CONTINUATION that ends it. */
  get inBlock(): boolean {
    return this.stream !== 0;
  }

  /** A HEADERS frame. */
  headers(flags: number, id: number, p: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
    let start = 0;
    let end = p.length;
    if ((flags & Flag.PADDED) !== 0) {
      if (p.length === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "bad HEADERS padding");
      start = 1;
      end -= p[0] as number;
    }
    if ((flags & Flag.PRIORITY) !== 0) start += 5;
    if (end < start) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "bad HEADERS padding");
    const fragment = p.subarray(start, end);
    if ((flags & Flag.END_HEADERS) !== 0) {
      this.deliver(id, flags, fragment);
      return;
    }
    this.stream = id;
    this.flags = flags;
    this.parts = [fragment];
    this.bytes = fragment.length;
    this.continuations = 0;
  }

  /** A CONTINUATION frame. */
  continuation(flags: number, id: number, p: Buffer): void {
    if (this.stream === 0 || id !== this.stream) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "unexpected CONTINUATION");
    this.bytes += p.length;
    if (++this.continuations > MAX_CONTINUATIONS) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "too many CONTINUATION frames");
    if (this.bytes > this.maxBytes) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
    this.parts.push(p);
    if ((flags & Flag.END_HEADERS) === 0) return;
    const block = Buffer.concat(this.parts);
    this.stream = 0;
    this.parts = [];
    this.deliver(id, this.flags, block);
  }

  private deliver(id: number, flags: number, block: Buffer): void {
    if (block.length > this.maxBytes) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
    this.sink(id, flags, block);
  }
}
