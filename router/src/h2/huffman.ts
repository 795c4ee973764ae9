/**
 * HPACK's static Huffman code (RFC 7541 §5.2, Appendix B) and a table-driven decoder for it.
 *
 * The decoder walks the code tree four bits at a time: a 256-state × 16-nibble transition table
 * is built once at module load from the code table (huffman-table.ts), so decoding a byte is two array reads,
 * with no per-bit branching and no allocation besides the result string.
 */

import { HUFFMAN_CODE_LENGTHS, HUFFMAN_CODES } from "./huffman-table.ts";

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
