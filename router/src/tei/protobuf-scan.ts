/**
 * Just enough protobuf wire-format reading to route and guard requests without decoding them:
 * walk the tags of one message level, skipping every field by its length, and pick out a few
 * fields by number. Walking tags costs one step per field (a TEI request has a handful), never
 * a step per byte, and allocates nothing on the plain-call path.
 */
import { GrpcStatus, RouterError } from "../grpc/grpc-status.ts";

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_SGROUP = 3;
const WIRE_EGROUP = 4;
const WIRE_I32 = 5;

// Scanner state lives in module variables: scanning is synchronous and never re-entrant, and this
// keeps the hot path free of allocations (no result objects, no closures).
let buf: Buffer = Buffer.alloc(0);
let pos = 0;
let end = 0;
/** Set by readVarint when the value does not fit in 32 bits. */
let overflow = false;

function malformed(what: string): RouterError {
  return new RouterError(GrpcStatus.INVALID_ARGUMENT, `request is not valid protobuf: ${what}`);
}

/** Reads a varint at `pos`; returns its low 32 bits (unsigned) and sets `overflow`. */
function readVarint(): number {
  let result = 0;
  let shift = 0;
  overflow = false;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw malformed("truncated varint");
    const b = buf[pos++] as number;
    if (shift < 28) {
      result |= (b & 0x7f) << shift;
    } else if (shift === 28) {
      result |= (b & 0x0f) << 28;
      if ((b & 0x70) !== 0) overflow = true;
    } else if ((b & 0x7f) !== 0) {
      overflow = true;
    }
    if ((b & 0x80) === 0) return result >>> 0;
    shift += 7;
  }
  throw malformed("varint longer than 10 bytes");
}

/** Reads a LEN field's length and checks it against the remaining bytes. */
function readLength(): number {
  const len = readVarint();
  if (overflow || len > end - pos) throw malformed("length-delimited field runs past the end");
  return len;
}

/** Skips the value of a field whose tag was just read. */
function skipValue(wireType: number, fieldNo: number): void {
  switch (wireType) {
    case WIRE_VARINT:
      readVarint();
      return;
    case WIRE_I64:
      pos += 8;
      break;
    case WIRE_LEN: {
      // Not `pos += readLength()`: that would add to pos as it was before the length was read.
      const len = readLength();
      pos += len;
      return;
    }
    case WIRE_I32:
      pos += 4;
      break;
    case WIRE_SGROUP:
      skipGroup(fieldNo);
      return;
    default:
      throw malformed(`wire type ${wireType} on field ${fieldNo}`);
  }
  if (pos > end) throw malformed("fixed-size field runs past the end");
}

/** Skips a (legacy) group up to its matching end tag; proto3 peers may still send one. */
function skipGroup(fieldNo: number): void {
  for (;;) {
    if (pos >= end) throw malformed(`unterminated group ${fieldNo}`);
    const tag = readVarint();
    const wt = tag & 7;
    const fn = tag >>> 3;
    if (wt === WIRE_EGROUP) {
      if (fn !== fieldNo) throw malformed(`mismatched end of group ${fieldNo}`);
      return;
    }
    skipValue(wt, fn);
  }
}

/** Reads the next tag; returns its field number and leaves the wire type in `lastWireType`. */
let lastWireType = 0;
function readTag(): number {
  const tag = readVarint();
  if (overflow) throw malformed("tag out of range");
  lastWireType = tag & 7;
  const fieldNo = tag >>> 3;
  if (fieldNo === 0) throw malformed("field number 0");
  if (lastWireType === WIRE_EGROUP) throw malformed(`unexpected end of group ${fieldNo}`);
  return fieldNo;
}

/**
 * Returns the value of an enum (int32 varint) field of `bytes[start, end)`, as the decoder of
 * the receiving service would see it: the last occurrence wins and the value is truncated to
 * 32 bits. Returns 0 (the proto3 default) when the field is absent.
 * @throws RouterError (INVALID_ARGUMENT) when the message is not well-formed protobuf
 */
export function scanEnumField(bytes: Buffer, start: number, stop: number, field: number): number {
  buf = bytes;
  pos = start;
  end = stop;
  let value = 0;
  while (pos < end) {
    const fn = readTag();
    if (fn === field && lastWireType === WIRE_VARINT) value = readVarint() | 0;
    else skipValue(lastWireType, fn);
  }
  return value;
}

/** Where the fields of a multiplexer wrapper message lie inside its buffer. */
export interface WrapperFields {
  /** Byte range of the last `target` (field 1) occurrence, or -1/-1 when absent. */
  targetStart: number;
  targetEnd: number;
  /**
   * Byte ranges of every `request` (field 2) occurrence as [start, end) pairs. Several
   * occurrences of an embedded message merge, which is exactly their concatenation.
   */
  requestRanges: number[];
}

/**
 * Locates field 1 (Target) and field 2 (the TEI request) of a multiplexer wrapper message.
 * @throws RouterError (INVALID_ARGUMENT) on malformed protobuf or a wrong wire type
 */
export function scanWrapper(bytes: Buffer, start: number, stop: number): WrapperFields {
  buf = bytes;
  pos = start;
  end = stop;
  const out: WrapperFields = { targetStart: -1, targetEnd: -1, requestRanges: [] };
  while (pos < end) {
    const fn = readTag();
    if (fn === 1 || fn === 2) {
      if (lastWireType !== WIRE_LEN) throw malformed(`field ${fn} must be a message`);
      const len = readLength();
      if (fn === 1) {
        out.targetStart = pos;
        out.targetEnd = pos + len;
      } else {
        out.requestRanges.push(pos, pos + len);
      }
      pos += len;
    } else {
      skipValue(lastWireType, fn);
    }
  }
  return out;
}

/** The routing choice inside a multiplexer `Target` message. */
export interface TargetFields {
  /** Which oneof member was set last: 1 instance_name, 2 model_id, 3 instance_index, 0 none. */
  which: number;
  /** The string of instance_name or model_id. */
  text: string;
  /** The value of instance_index. */
  index: number;
}

/**
 * Reads a `tei_multiplexer.v1.Target` message: `oneof routing { string instance_name = 1;
 * string model_id = 2; uint32 instance_index = 3; }`. The last member on the wire wins.
 * @throws RouterError (INVALID_ARGUMENT) on malformed protobuf
 */
export function scanTarget(bytes: Buffer, start: number, stop: number): TargetFields {
  buf = bytes;
  pos = start;
  end = stop;
  const out: TargetFields = { which: 0, text: "", index: 0 };
  while (pos < end) {
    const fn = readTag();
    if ((fn === 1 || fn === 2) && lastWireType === WIRE_LEN) {
      const len = readLength();
      out.which = fn;
      out.text = bytes.toString("utf8", pos, pos + len);
      pos += len;
    } else if (fn === 3 && lastWireType === WIRE_VARINT) {
      out.which = 3;
      out.index = readVarint();
    } else {
      skipValue(lastWireType, fn);
    }
  }
  return out;
}
