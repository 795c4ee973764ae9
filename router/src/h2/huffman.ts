/**
 * HPACK's static Huffman code (RFC 7541 §5.2, Appendix B) and a table-driven decoder for it.
 *
 * The decoder walks the code tree four bits at a time: a 256-state × 16-nibble transition table
 * is built once at module load from the code table below, so decoding a byte is two array reads,
 * with no per-bit branching and no allocation besides the result string.
 */

/**
 * The Huffman code of each symbol 0..256 (256 is EOS), right-aligned, as listed in RFC 7541
 * Appendix B ("code as hex aligned to LSB"). Its bit length is {@link HUFFMAN_CODE_LENGTHS}.
 */
export const HUFFMAN_CODES: readonly number[] = [
  0x1ff8,
  0x7fffd8,
  0xfffffe2,
  0xfffffe3,
  0xfffffe4,
  0xfffffe5,
  0xfffffe6,
  0xfffffe7, // 0
  0xfffffe8,
  0xffffea,
  0x3ffffffc,
  0xfffffe9,
  0xfffffea,
  0x3ffffffd,
  0xfffffeb,
  0xfffffec, // 8
  0xfffffed,
  0xfffffee,
  0xfffffef,
  0xffffff0,
  0xffffff1,
  0xffffff2,
  0x3ffffffe,
  0xffffff3, // 16
  0xffffff4,
  0xffffff5,
  0xffffff6,
  0xffffff7,
  0xffffff8,
  0xffffff9,
  0xffffffa,
  0xffffffb, // 24
  0x14,
  0x3f8,
  0x3f9,
  0xffa,
  0x1ff9,
  0x15,
  0xf8,
  0x7fa, // 32
  0x3fa,
  0x3fb,
  0xf9,
  0x7fb,
  0xfa,
  0x16,
  0x17,
  0x18, // 40
  0x0,
  0x1,
  0x2,
  0x19,
  0x1a,
  0x1b,
  0x1c,
  0x1d, // 48
  0x1e,
  0x1f,
  0x5c,
  0xfb,
  0x7ffc,
  0x20,
  0xffb,
  0x3fc, // 56
  0x1ffa,
  0x21,
  0x5d,
  0x5e,
  0x5f,
  0x60,
  0x61,
  0x62, // 64
  0x63,
  0x64,
  0x65,
  0x66,
  0x67,
  0x68,
  0x69,
  0x6a, // 72
  0x6b,
  0x6c,
  0x6d,
  0x6e,
  0x6f,
  0x70,
  0x71,
  0x72, // 80
  0xfc,
  0x73,
  0xfd,
  0x1ffb,
  0x7fff0,
  0x1ffc,
  0x3ffc,
  0x22, // 88
  0x7ffd,
  0x3,
  0x23,
  0x4,
  0x24,
  0x5,
  0x25,
  0x26, // 96
  0x27,
  0x6,
  0x74,
  0x75,
  0x28,
  0x29,
  0x2a,
  0x7, // 104
  0x2b,
  0x76,
  0x2c,
  0x8,
  0x9,
  0x2d,
  0x77,
  0x78, // 112
  0x79,
  0x7a,
  0x7b,
  0x7ffe,
  0x7fc,
  0x3ffd,
  0x1ffd,
  0xffffffc, // 120
  0xfffe6,
  0x3fffd2,
  0xfffe7,
  0xfffe8,
  0x3fffd3,
  0x3fffd4,
  0x3fffd5,
  0x7fffd9, // 128
  0x3fffd6,
  0x7fffda,
  0x7fffdb,
  0x7fffdc,
  0x7fffdd,
  0x7fffde,
  0xffffeb,
  0x7fffdf, // 136
  0xffffec,
  0xffffed,
  0x3fffd7,
  0x7fffe0,
  0xffffee,
  0x7fffe1,
  0x7fffe2,
  0x7fffe3, // 144
  0x7fffe4,
  0x1fffdc,
  0x3fffd8,
  0x7fffe5,
  0x3fffd9,
  0x7fffe6,
  0x7fffe7,
  0xffffef, // 152
  0x3fffda,
  0x1fffdd,
  0xfffe9,
  0x3fffdb,
  0x3fffdc,
  0x7fffe8,
  0x7fffe9,
  0x1fffde, // 160
  0x7fffea,
  0x3fffdd,
  0x3fffde,
  0xfffff0,
  0x1fffdf,
  0x3fffdf,
  0x7fffeb,
  0x7fffec, // 168
  0x1fffe0,
  0x1fffe1,
  0x3fffe0,
  0x1fffe2,
  0x7fffed,
  0x3fffe1,
  0x7fffee,
  0x7fffef, // 176
  0xfffea,
  0x3fffe2,
  0x3fffe3,
  0x3fffe4,
  0x7ffff0,
  0x3fffe5,
  0x3fffe6,
  0x7ffff1, // 184
  0x3ffffe0,
  0x3ffffe1,
  0xfffeb,
  0x7fff1,
  0x3fffe7,
  0x7ffff2,
  0x3fffe8,
  0x1ffffec, // 192
  0x3ffffe2,
  0x3ffffe3,
  0x3ffffe4,
  0x7ffffde,
  0x7ffffdf,
  0x3ffffe5,
  0xfffff1,
  0x1ffffed, // 200
  0x7fff2,
  0x1fffe3,
  0x3ffffe6,
  0x7ffffe0,
  0x7ffffe1,
  0x3ffffe7,
  0x7ffffe2,
  0xfffff2, // 208
  0x1fffe4,
  0x1fffe5,
  0x3ffffe8,
  0x3ffffe9,
  0xffffffd,
  0x7ffffe3,
  0x7ffffe4,
  0x7ffffe5, // 216
  0xfffec,
  0xfffff3,
  0xfffed,
  0x1fffe6,
  0x3fffe9,
  0x1fffe7,
  0x1fffe8,
  0x7ffff3, // 224
  0x3fffea,
  0x3fffeb,
  0x1ffffee,
  0x1ffffef,
  0xfffff4,
  0xfffff5,
  0x3ffffea,
  0x7ffff4, // 232
  0x3ffffeb,
  0x7ffffe6,
  0x3ffffec,
  0x3ffffed,
  0x7ffffe7,
  0x7ffffe8,
  0x7ffffe9,
  0x7ffffea, // 240
  0x7ffffeb,
  0xffffffe,
  0x7ffffec,
  0x7ffffed,
  0x7ffffee,
  0x7ffffef,
  0x7fffff0,
  0x3ffffee, // 248
  0x3fffffff, // 256
];

/** The bit length of each code in {@link HUFFMAN_CODES} (RFC 7541 Appendix B, "len in bits"). */
export const HUFFMAN_CODE_LENGTHS: Uint8Array = Uint8Array.of(
  13,
  23,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  24,
  30,
  28,
  28,
  30,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  30,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  6,
  10,
  10,
  12,
  13,
  6,
  8,
  11,
  10,
  10,
  8,
  11,
  8,
  6,
  6,
  6,
  5,
  5,
  5,
  6,
  6,
  6,
  6,
  6,
  6,
  6,
  7,
  8,
  15,
  6,
  12,
  10,
  13,
  6,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  8,
  7,
  8,
  13,
  19,
  13,
  14,
  6,
  15,
  5,
  6,
  5,
  6,
  5,
  6,
  6,
  6,
  5,
  7,
  7,
  6,
  6,
  6,
  5,
  6,
  7,
  6,
  5,
  5,
  6,
  7,
  7,
  7,
  7,
  7,
  15,
  11,
  14,
  13,
  28,
  20,
  22,
  20,
  20,
  22,
  22,
  22,
  23,
  22,
  23,
  23,
  23,
  23,
  23,
  24,
  23,
  24,
  24,
  22,
  23,
  24,
  23,
  23,
  23,
  23,
  21,
  22,
  23,
  22,
  23,
  23,
  24,
  22,
  21,
  20,
  22,
  22,
  23,
  23,
  21,
  23,
  22,
  22,
  24,
  21,
  22,
  23,
  23,
  21,
  21,
  22,
  21,
  23,
  22,
  23,
  23,
  20,
  22,
  22,
  22,
  23,
  22,
  22,
  23,
  26,
  26,
  20,
  19,
  22,
  23,
  22,
  25,
  26,
  26,
  26,
  27,
  27,
  26,
  24,
  25,
  19,
  21,
  26,
  27,
  27,
  26,
  27,
  24,
  21,
  21,
  26,
  26,
  28,
  27,
  27,
  27,
  20,
  24,
  20,
  21,
  22,
  21,
  21,
  23,
  22,
  22,
  25,
  25,
  24,
  24,
  26,
  23,
  26,
  27,
  26,
  26,
  27,
  27,
  27,
  27,
  27,
  28,
  27,
  27,
  27,
  27,
  27,
  26,
  30,
);

/** The EOS symbol: it must never appear in a string (RFC 7541 §5.2). */
const EOS = 256;

// A transition entry: bits 0-7 the next state (a tree node), bits 8-15 the symbol completed by
// this nibble, then flags. At most one symbol completes per nibble: the shortest code is 5 bits.
const STATE_MASK = 0xff;
const EMIT = 1 << 16;
/** Decoding must stop: the nibble completed EOS. */
const FAIL = 1 << 17;
/** Ending here is legal: no partial code, or fewer than 8 bits of an all-ones (EOS prefix) tail. */
const ACCEPT = 1 << 18;

/**
 * The code tree: `children[2 * node + bit]` is an internal node id (> 0) or a leaf as
 * `-(symbol + 1)`. A complete code over 257 symbols has exactly 256 internal nodes, so a node id
 * fits in the 8-bit state of a transition entry.
 */
function buildTree(): Int16Array {
  const children = new Int16Array(2 * 256);
  let nodes = 1; // node 0 is the root
  for (let sym = 0; sym <= EOS; sym++) {
    const code = HUFFMAN_CODES[sym]!;
    const len = HUFFMAN_CODE_LENGTHS[sym]!;
    let node = 0;
    for (let bit = len - 1; bit > 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      let next = children[slot]!;
      if (next < 0 || (next === 0 && nodes === 256)) throw new Error(`HPACK Huffman table is not a complete prefix code (symbol ${sym})`);
      if (next === 0) children[slot] = next = nodes++;
      node = next;
    }
    const leaf = 2 * node + (code & 1);
    if (children[leaf] !== 0) throw new Error(`HPACK Huffman table is not a complete prefix code (symbol ${sym})`);
    children[leaf] = -(sym + 1);
  }
  // The root is nobody's child, so a 0 left anywhere is a missing branch.
  if (nodes !== 256 || children.includes(0)) throw new Error("HPACK Huffman table is not a complete prefix code");
  return children;
}

/** `TRANSITIONS[(state << 4) | nibble]`: the decoder's whole state machine. */
const TRANSITIONS: Uint32Array = (() => {
  const children = buildTree();
  // Padding is "the most significant bits of the code corresponding to the EOS symbol" and
  // "strictly longer than 7 bits" is an error (§5.2): the accepting states are the root and
  // the first seven nodes down the all-ones path.
  const accepting = new Uint8Array(256);
  accepting[0] = 1;
  for (let node = 0, depth = 1; depth <= 7; depth++) {
    node = children[2 * node + 1]!;
    accepting[node] = 1;
  }
  const table = new Uint32Array(256 * 16);
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let bit = 3; bit >= 0; bit--) {
        const child = children[2 * node + ((nibble >>> bit) & 1)]!;
        if (child > 0) {
          node = child;
          continue;
        }
        const sym = -child - 1;
        if (sym === EOS) {
          entry = FAIL;
          break;
        }
        entry = EMIT | (sym << 8);
        node = 0;
      }
      table[(state << 4) | nibble] = entry === FAIL ? FAIL : entry | node | (accepting[node] ? ACCEPT : 0);
    }
  }
  return table;
})();

type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

/**
 * Bytes `[start, end)` of `buf` as a string, one char per byte (latin1), which is how Node's own
 * http2 hands header values over. Uses Buffer's `latin1Slice` when present: it is what
 * `toString("latin1")` calls after its argument checks, so it saves those on every string.
 */
export const latin1String: (buf: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as Partial<Latin1Buffer>).latin1Slice === "function"
    ? (buf, start, end) => (buf as Latin1Buffer).latin1Slice(start, end)
    : (buf, start, end) => buf.toString("latin1", start, end);

/** Decoded bytes land here before becoming a string; grown on demand, never shrunk below this. */
const SCRATCH_KEEP_LIMIT = 64 * 1024;
let scratch = Buffer.allocUnsafeSlow(1024);

/**
 * Decodes the Huffman-coded string in bytes `[start, end)` of `src` (latin1, one char per byte).
 * @returns the string, or `null` if it contains EOS or its padding is not 0-7 one-bits
 *   (RFC 7541 §5.2); the caller turns that into its own error.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string | null {
  // Every code is at least 5 bits long, so this bounds the decoded length.
  const bound = Math.floor(((end - start) * 8) / 5);
  let out = scratch;
  if (out.length < bound) {
    out = Buffer.allocUnsafeSlow(Math.max(bound, 2 * scratch.length));
    if (out.length <= SCRATCH_KEEP_LIMIT) scratch = out;
  }
  const table = TRANSITIONS;
  let entry = ACCEPT; // the empty string is well-formed
  let state = 0;
  let n = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    entry = table[(state << 4) | (byte >>> 4)]!;
    if ((entry & (EMIT | FAIL)) !== 0) {
      if ((entry & FAIL) !== 0) return null;
      out[n++] = (entry >>> 8) & 0xff;
    }
    state = entry & STATE_MASK;
    entry = table[(state << 4) | (byte & 0xf)]!;
    if ((entry & (EMIT | FAIL)) !== 0) {
      if ((entry & FAIL) !== 0) return null;
      out[n++] = (entry >>> 8) & 0xff;
    }
    state = entry & STATE_MASK;
  }
  if ((entry & ACCEPT) === 0) return null;
  return latin1String(out, 0, n);
}

/** Number of bytes {@link huffmanEncode} produces for `str`. */
export function huffmanEncodedLength(str: string): number {
  let bits = 0;
  for (let i = 0; i < str.length; i++) bits += HUFFMAN_CODE_LENGTHS[str.charCodeAt(i) & 0xff]!;
  return (bits + 7) >>> 3;
}

/**
 * Huffman-codes `str` (each char taken as one latin1 byte, as the rest of this codec does),
 * padded with one-bits as RFC 7541 §5.2 requires. The router's encoder does not use it (see
 * hpack-encoder.ts); it exists for tests and for a future encoder that wants the smaller output.
 */
export function huffmanEncode(str: string): Buffer {
  const out = Buffer.allocUnsafe(huffmanEncodedLength(str));
  // Up to 7 pending bits plus a code of at most 30 bits stays far below 2^53, so plain
  // arithmetic (not 32-bit bitwise operators) holds the accumulator exactly.
  let acc = 0;
  let accBits = 0;
  let o = 0;
  for (let i = 0; i < str.length; i++) {
    const sym = str.charCodeAt(i) & 0xff;
    const len = HUFFMAN_CODE_LENGTHS[sym]!;
    acc = acc * 2 ** len + HUFFMAN_CODES[sym]!;
    accBits += len;
    while (accBits >= 8) {
      accBits -= 8;
      const unit = 2 ** accBits;
      out[o++] = Math.floor(acc / unit);
      acc %= unit;
    }
  }
  if (accBits > 0) out[o++] = (acc << (8 - accBits)) | ((1 << (8 - accBits)) - 1);
  return out;
}
