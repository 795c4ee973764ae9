/**
 * TEI's gRPC request messages, written straight into one gRPC-framed buffer (the 5-byte prefix
 * then protobuf), as the gateway sends them: no message objects, no generic encoder. Every field
 * the HTTP route decides is written explicitly, even when it equals the proto3 default, except
 * where TEI's proto3 default already is what the route means (false bools, direction RIGHT).
 */

/** Wire types. */
const VARINT = 0;
const LEN = 2;

/** A growable writer of one gRPC frame. */
export class FrameWriter {
  private buf: Buffer;
  private pos = 5;

  /** @param hint - expected protobuf size in bytes (grows when short) */
  constructor(hint: number) {
    this.buf = Buffer.allocUnsafe(hint + 16);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private varint(v: number): void {
    const b = this.buf;
    while (v > 0x7f) {
      b[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    b[this.pos++] = v;
  }

  /** A string field (written even when empty: TEI's validation answers it). */
  string(field: number, s: string): this {
    const n = Buffer.byteLength(s, "utf8");
    this.ensure(n + 16);
    this.varint((field << 3) | LEN);
    this.varint(n);
    this.pos += this.buf.write(s, this.pos, n, "utf8");
    return this;
  }

  /** A bool field. */
  bool(field: number, v: boolean): this {
    this.ensure(8);
    this.varint((field << 3) | VARINT);
    this.buf[this.pos++] = v ? 1 : 0;
    return this;
  }

  /** A uint32 (or enum) field. */
  uint(field: number, v: number): this {
    this.ensure(16);
    this.varint((field << 3) | VARINT);
    this.varint(v >>> 0);
    return this;
  }

  /** A packed repeated uint32 field. */
  packed(field: number, values: readonly number[]): this {
    this.ensure(16 + values.length * 5);
    this.varint((field << 3) | LEN);
    let n = 0;
    for (const v of values) n += v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
    this.varint(n);
    for (const v of values) this.varint(v >>> 0);
    return this;
  }

  /** The framed message (uncompressed, length prefix set). */
  finish(): Buffer {
    const b = this.buf;
    b[0] = 0;
    b.writeUInt32BE(this.pos - 5, 1);
    return b.subarray(0, this.pos);
  }
}

/** TEI's `TruncationDirection`: RIGHT 0, LEFT 1. */
export type Direction = 0 | 1;

/** The options the Embed* requests share. */
export interface EmbedOptions {
  truncate: boolean;
  direction: Direction;
  promptName: string | undefined;
}

/** tei.v1.EmbedRequest. `normalize` and `dimensions` undefined: unset. */
export function embedRequest(text: string, o: EmbedOptions, normalize: boolean | undefined, dimensions: number | undefined): Buffer {
  const w = new FrameWriter(text.length * 3 + 24).string(1, text).bool(2, o.truncate);
  if (normalize !== undefined) w.bool(3, normalize);
  if (o.direction !== 0) w.uint(4, o.direction);
  if (o.promptName !== undefined) w.string(5, o.promptName);
  if (dimensions !== undefined) w.uint(6, dimensions);
  return w.finish();
}

/** tei.v1.EmbedSparseRequest and EmbedAllRequest (same fields). */
export function embedVariantRequest(text: string, o: EmbedOptions): Buffer {
  const w = new FrameWriter(text.length * 3 + 24).string(1, text).bool(2, o.truncate);
  if (o.direction !== 0) w.uint(3, o.direction);
  if (o.promptName !== undefined) w.string(4, o.promptName);
  return w.finish();
}

/** tei.v1.PredictRequest (one text) or PredictPairRequest (two). */
export function predictRequest(texts: readonly string[], truncate: boolean, rawScores: boolean, direction: Direction): Buffer {
  const w = new FrameWriter(texts.reduce((n, t) => n + t.length * 3 + 6, 16));
  for (const t of texts) w.string(1, t);
  w.bool(2, truncate).bool(3, rawScores);
  if (direction !== 0) w.uint(4, direction);
  return w.finish();
}

/** tei.v1.RerankRequest. */
export function rerankRequest(
  query: string,
  texts: readonly string[],
  truncate: boolean,
  rawScores: boolean,
  returnText: boolean,
  direction: Direction,
): Buffer {
  const w = new FrameWriter(texts.reduce((n, t) => n + t.length * 3 + 6, query.length * 3 + 24)).string(1, query);
  for (const t of texts) w.string(2, t);
  w.bool(3, truncate).bool(4, rawScores).bool(5, returnText);
  if (direction !== 0) w.uint(6, direction);
  return w.finish();
}

/** tei.v1.EncodeRequest. */
export function encodeRequest(text: string, addSpecialTokens: boolean, promptName: string | undefined): Buffer {
  const w = new FrameWriter(text.length * 3 + 24).string(1, text).bool(2, addSpecialTokens);
  if (promptName !== undefined) w.string(3, promptName);
  return w.finish();
}

/** tei.v1.DecodeRequest. */
export function decodeRequest(ids: readonly number[], skipSpecialTokens: boolean): Buffer {
  return new FrameWriter(ids.length * 5 + 16).packed(1, ids).bool(2, skipSpecialTokens).finish();
}

/** tei.v1.InfoRequest (no fields). */
export const INFO_REQUEST: Buffer = Buffer.from([0, 0, 0, 0, 0]);
