/**
 * HPACK (RFC 7541) decoding: turns the header blocks a peer sends into header lists, keeping the
 * connection direction's dynamic table; a malformed block is an {@link HpackError}.
 *
 * Header lists are flat string arrays `[name0, value0, name1, value1, ...]`: no per-field
 * objects. Strings are latin1, one char per octet, which is how Node's own http2 hands header
 * values over: HTTP field values are octets, and gRPC metadata is ASCII (binary metadata travels
 * base64-encoded in `-bin` headers).
 */
import { DEFAULT_TABLE_SIZE, STATIC_COUNT, STATIC_TABLE } from "./hpack-static-table.ts";
import { huffmanDecode, latin1String } from "./huffman.ts";

/** Thrown for a malformed header block; the caller turns it into a connection error COMPRESSION_ERROR. */
export class HpackError extends Error {
  /** @param message - what was wrong with the block (for logs and the GOAWAY debug text) */
  constructor(message: string) {
    super(message);
    this.name = "HpackError";
  }
}

/** What RFC 7541 §4.1 adds to every dynamic table entry's name and value length. */
const ENTRY_OVERHEAD = 32;

/**
 * Integers above this are refused. Nothing legitimate comes close (a string cannot be longer than
 * its header block), and staying below 2^31 keeps every sum exact and every index a small integer.
 */
const MAX_INTEGER = 0x7fff_ffff;

const EMPTY: Buffer = Buffer.alloc(0);

function asBuffer(block: Uint8Array): Buffer {
  return Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
}

/**
 * Decodes the header blocks of one HTTP/2 connection direction. Its dynamic table outlives each
 * block, so use one decoder per connection and feed it every block in the order received.
 *
 * The dynamic table is a ring of strings indexed without allocation: a request whose fields are
 * all in the table costs one integer read and two array pushes per field.
 */
export class HpackDecoder {
  /** The SETTINGS_HEADER_TABLE_SIZE this side advertised: the most a size update may ask for. */
  private readonly maxTableSize: number;
  /** The size the peer's encoder chose with its last size update (initially the maximum). */
  private capacity: number;
  /** Sum of the entries' sizes (RFC 7541 §4.1). */
  private size = 0;
  // The ring: entry k (0 = newest) sits in slot (head - 1 - k) & mask.
  private names: string[] = new Array<string>(32).fill("");
  private values: string[] = new Array<string>(32).fill("");
  private mask = 31;
  private head = 0;
  private count = 0;
  // The block being decoded, and the read position in it.
  private buf: Buffer = EMPTY;
  private pos = 0;
  private end = 0;

  /** @param maxTableSize - the SETTINGS_HEADER_TABLE_SIZE this side advertises (default 4096) */
  constructor(maxTableSize: number = DEFAULT_TABLE_SIZE) {
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0 || maxTableSize > MAX_INTEGER) {
      throw new RangeError(`HPACK table size must be an integer from 0 to ${MAX_INTEGER}, got ${maxTableSize}`);
    }
    this.maxTableSize = maxTableSize;
    this.capacity = maxTableSize;
  }

  /**
   * Decodes one complete header block (HEADERS + CONTINUATION payloads already joined,
   * padding/priority removed). Names are as sent (HTTP/2 requires lowercase; that is the caller's
   * check, not HPACK's).
   * @returns flat `[name, value, ...]`
   * @throws HpackError for any malformed block; after one, the connection must be closed, since
   *   the dynamic table may be out of step with the peer's
   */
  decode(block: Uint8Array): string[] {
    this.buf = asBuffer(block);
    this.pos = 0;
    this.end = block.length;
    const out: string[] = [];
    while (this.pos < this.end) {
      const first = this.buf[this.pos]!;
      if (first >= 0x80) {
        // Indexed field (§6.1): the common case for a repeated request.
        const index = this.readInteger(0x7f);
        this.pushIndexed(out, index);
      } else if (first >= 0x40) {
        // Literal with incremental indexing (§6.2.1).
        const index = this.readInteger(0x3f);
        const name = index === 0 ? this.readString() : this.nameAt(index);
        const value = this.readString();
        out.push(name, value);
        this.insert(name, value);
      } else if (first >= 0x20) {
        // Dynamic table size update (§6.3): only before the first field of a block (§4.2).
        if (out.length > 0) throw new HpackError("dynamic table size update after a header field");
        this.resize(this.readInteger(0x1f));
      } else {
        // Literal without indexing (0000) or never indexed (0001) (§6.2.2, §6.2.3): the same
        // to a decoder; "never indexed" only binds whoever re-encodes the field.
        const index = this.readInteger(0x0f);
        const name = index === 0 ? this.readString() : this.nameAt(index);
        out.push(name, this.readString());
      }
    }
    this.buf = EMPTY; // do not keep the caller's frame alive
    return out;
  }

  /** Number of entries in the dynamic table (for tests and diagnostics). */
  get dynamicTableLength(): number {
    return this.count;
  }

  /** Sum of the dynamic table's entry sizes per RFC 7541 §4.1 (for tests and diagnostics). */
  get dynamicTableSize(): number {
    return this.size;
  }

  private pushIndexed(out: string[], index: number): void {
    if (index <= STATIC_COUNT) {
      if (index === 0) throw new HpackError("indexed header field with index 0");
      out.push(STATIC_TABLE[2 * index - 2]!, STATIC_TABLE[2 * index - 1]!);
      return;
    }
    const k = index - STATIC_COUNT - 1;
    if (k >= this.count) throw new HpackError(`header index ${index} is beyond the table (${STATIC_COUNT + this.count} entries)`);
    const slot = (this.head - 1 - k) & this.mask;
    out.push(this.names[slot]!, this.values[slot]!);
  }

  private nameAt(index: number): string {
    if (index <= STATIC_COUNT) return STATIC_TABLE[2 * index - 2]!;
    const k = index - STATIC_COUNT - 1;
    if (k >= this.count) throw new HpackError(`header name index ${index} is beyond the table (${STATIC_COUNT + this.count} entries)`);
    return this.names[(this.head - 1 - k) & this.mask]!;
  }

  /** Reads an integer with an N-bit prefix (§5.1); `prefixMask` is 2^N - 1. Caller ensures pos < end. */
  private readInteger(prefixMask: number): number {
    const buf = this.buf;
    let p = this.pos;
    let value = buf[p++]! & prefixMask;
    if (value === prefixMask) {
      let scale = 1;
      let byte: number;
      do {
        if (p >= this.end) throw new HpackError("header block truncated inside an integer");
        if (scale > 2 ** 28) throw new HpackError("integer in header block is too long");
        byte = buf[p++]!;
        value += (byte & 0x7f) * scale;
        scale *= 128;
      } while (byte >= 0x80);
      if (value > MAX_INTEGER) throw new HpackError("integer in header block is too large");
    }
    this.pos = p;
    return value;
  }

  /** Reads a string literal (§5.2), Huffman-coded or raw. */
  private readString(): string {
    if (this.pos >= this.end) throw new HpackError("header block truncated before a string");
    const huffman = this.buf[this.pos]! >= 0x80;
    const length = this.readInteger(0x7f);
    const start = this.pos;
    if (length > this.end - start) throw new HpackError("header block truncated inside a string");
    this.pos = start + length;
    if (!huffman) return latin1String(this.buf, start, start + length);
    const decoded = huffmanDecode(this.buf, start, start + length);
    if (decoded === null) throw new HpackError("invalid Huffman-coded string (EOS symbol or bad padding)");
    return decoded;
  }

  private resize(newCapacity: number): void {
    if (newCapacity > this.maxTableSize) {
      throw new HpackError(`dynamic table size update to ${newCapacity} exceeds the advertised maximum ${this.maxTableSize}`);
    }
    this.capacity = newCapacity;
    this.evictUntil(newCapacity);
  }

  /** Drops the oldest entries until the table's size is at most `limit` (§4.3, §4.4). */
  private evictUntil(limit: number): void {
    while (this.size > limit && this.count > 0) {
      const slot = (this.head - this.count) & this.mask;
      this.size -= this.names[slot]!.length + this.values[slot]!.length + ENTRY_OVERHEAD;
      this.names[slot] = "";
      this.values[slot] = "";
      this.count--;
    }
  }

  /** Adds an entry as §4.4 says: evict to make room; an entry larger than the table empties it. */
  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD; // latin1: one octet per char
    if (entrySize > this.capacity) {
      this.evictUntil(0);
      return;
    }
    this.evictUntil(this.capacity - entrySize);
    if (this.count === this.names.length) this.grow();
    const slot = this.head;
    this.names[slot] = name;
    this.values[slot] = value;
    this.head = (slot + 1) & this.mask;
    this.count++;
    this.size += entrySize;
  }

  /** Doubles the ring, keeping entry order. Rare: 4096 bytes hold at most 128 entries. */
  private grow(): void {
    const slots = this.names.length * 2;
    const names = new Array<string>(slots).fill("");
    const values = new Array<string>(slots).fill("");
    for (let k = 0; k < this.count; k++) {
      const from = (this.head - 1 - k) & this.mask;
      names[this.count - 1 - k] = this.names[from]!;
      values[this.count - 1 - k] = this.values[from]!;
    }
    this.names = names;
    this.values = values;
    this.mask = slots - 1;
    this.head = this.count;
  }
}
