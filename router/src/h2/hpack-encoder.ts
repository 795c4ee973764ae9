/**
 * HPACK (RFC 7541) encoding: turns the header lists this side sends into header blocks, without a
 * dynamic table or Huffman coding (see {@link HpackEncoder} for why).
 *
 * Header lists are flat string arrays `[name0, value0, name1, value1, ...]`: no per-field
 * objects. Strings are latin1, one char per octet, which is how Node's own http2 takes header
 * values: HTTP field values are octets, and gRPC metadata is ASCII (binary metadata travels
 * base64-encoded in `-bin` headers).
 */
import { DEFAULT_TABLE_SIZE, SENSITIVE_STATIC_NAMES, STATIC_BY_NAME } from "./hpack-static-table.ts";

/** Strings shorter than this are copied by a JS loop, which beats a call into C++ for them. */
const SHORT_STRING = 32;

/**
 * Encodes header lists without a dynamic table and without Huffman coding.
 *
 * Why stateless and raw: the router's header lists are a handful of short fields (`:status`,
 * `content-type`, `grpc-status`, ...), so the bytes saved by indexing or Huffman coding are a few
 * dozen per response, while each costs CPU on every block (table upkeep and lookups, bit-level
 * coding); a literal is a plain byte copy. Exact static-table matches (`:status: 200`,
 * `:method: POST`, ...) still go out as one byte.
 *
 * Strings are written as latin1 (one octet per char, the low byte of chars above U+00FF, like
 * Node's http2). Field validity (lowercase names, no CR/LF/NUL) is the caller's business.
 */
export class HpackEncoder {
  /** The peer's latest SETTINGS_HEADER_TABLE_SIZE. */
  private peerMaxTableSize = DEFAULT_TABLE_SIZE;
  /** Whether the next block must open with a dynamic table size update. */
  private sizeUpdatePending = false;

  /**
   * Encodes a flat header list `[name0, value0, ...]` into one header block.
   * @param reserve - bytes left free before the block (the caller's frame header goes there, so
   *   the block is not copied into a frame afterwards); the result starts with them
   * @throws RangeError if the list has an odd number of entries
   */
  encode(headers: readonly string[], reserve = 0): Buffer {
    const n = headers.length;
    if ((n & 1) !== 0) throw new RangeError(`header list must hold name/value pairs, got ${n} entries`);
    // Upper bound: per field one type byte, 2 bytes of name index or 5 of name length, 5 of
    // value length; plus the strings; plus one size update.
    let bound = reserve + 1;
    for (let i = 0; i < n; i++) bound += headers[i]!.length + 6;
    const out = Buffer.allocUnsafe(bound);
    let o = reserve;
    if (this.sizeUpdatePending) {
      out[o++] = 0x20; // size update to 0 (§6.3): we never use the table, and 0 fits any maximum
      this.sizeUpdatePending = false;
    }
    for (let i = 0; i < n; i += 2) {
      const name = headers[i]!;
      const value = headers[i + 1]!;
      const known = STATIC_BY_NAME.get(name);
      if (known === undefined) {
        out[o++] = 0x00; // literal without indexing, new name (§6.2.2)
        o = writeString(out, o, name);
        o = writeString(out, o, value);
        continue;
      }
      const exact = known.values.get(value);
      if (exact !== undefined) {
        out[o++] = 0x80 | exact; // indexed field (§6.1); static indices fit the 7-bit prefix
        continue;
      }
      // Literal with indexed name (§6.2.2 / §6.2.3), 4-bit prefix.
      const flag = SENSITIVE_STATIC_NAMES.has(known.index) ? 0x10 : 0x00;
      if (known.index < 0x0f) {
        out[o++] = flag | known.index;
      } else {
        out[o++] = flag | 0x0f;
        out[o++] = known.index - 0x0f; // < 128 for every static index
      }
      o = writeString(out, o, value);
    }
    return out.subarray(0, o);
  }

  /**
   * Records the peer's SETTINGS_HEADER_TABLE_SIZE. Call it when the peer's SETTINGS frame is
   * processed, before any header block is sent after its ACK: the next block then opens with a
   * size update to 0. nghttp2 (Node's http2) treats a block that does not start with one after
   * it lowered or re-sent its setting as a COMPRESSION_ERROR, and one byte per SETTINGS change
   * is cheaper than tracking exactly when it wants one.
   * @throws RangeError if `n` is not an integer from 0 to 2^32 - 1
   */
  setPeerMaxTableSize(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new RangeError(`SETTINGS_HEADER_TABLE_SIZE must be an integer from 0 to 2^32 - 1, got ${n}`);
    this.peerMaxTableSize = n;
    this.sizeUpdatePending = true;
  }

  /** The peer's latest SETTINGS_HEADER_TABLE_SIZE (bookkeeping only: the table is never used). */
  get peerTableSize(): number {
    return this.peerMaxTableSize;
  }
}

/** Writes a raw (non-Huffman) string literal (§5.2) at `o`; returns the new offset. */
function writeString(out: Buffer, o: number, str: string): number {
  const len = str.length;
  if (len < 0x7f) {
    out[o++] = len;
  } else {
    out[o++] = 0x7f;
    let rest = len - 0x7f;
    while (rest >= 0x80) {
      out[o++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    out[o++] = rest;
  }
  if (len < SHORT_STRING) {
    for (let i = 0; i < len; i++) out[o + i] = str.charCodeAt(i); // Uint8 store keeps the low byte
  } else {
    out.write(str, o, len, "latin1");
  }
  return o + len;
}
