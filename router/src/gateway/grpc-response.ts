/**
 * Reading TEI's gRPC answers without decoding what the gateway passes on as bytes: the frame
 * around a unary answer, the packed `embeddings` field of an EmbedResponse (its little-endian
 * float32 bytes are OpenAI's base64 payload as they are, and the source of float JSON), and the
 * `Metadata` every inference answer carries in field 2, summed over a batch. Answers the gateway
 * re-shapes field by field (sparse, per-token, predictions, ranks, tokens) are decoded with the
 * generated schemas instead (tei-messages.ts).
 */
import { GatewayError } from "./gateway-error.ts";

/** Token counts and timings of one or many TEI answers (tei.v1.Metadata, summed). */
export class MetaSum {
  /** Answers summed. */
  items = 0;
  chars = 0;
  tokens = 0;
  totalNs = 0;
  tokenizationNs = 0;
  queueNs = 0;
  inferenceNs = 0;
}

function malformed(what: string): GatewayError {
  return new GatewayError(502, `backend answer is not valid protobuf: ${what}`, "Backend", null, "backend_error");
}

// Scanner state in module variables: synchronous, never re-entrant, no allocation per field.
let buf: Buffer = Buffer.alloc(0);
let pos = 0;
let end = 0;

function varint(): number {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw malformed("truncated varint");
    const b = buf[pos++] as number;
    result += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return result;
    mul *= 128;
  }
  throw malformed("varint longer than 10 bytes");
}

function skip(wireType: number): void {
  switch (wireType) {
    case 0:
      varint();
      return;
    case 1:
      pos += 8;
      break;
    case 2: {
      const n = varint();
      pos += n;
      break;
    }
    case 5:
      pos += 4;
      break;
    default:
      throw malformed(`wire type ${wireType}`);
  }
  if (pos > end) throw malformed("field runs past the end");
}

/** The protobuf message of a unary answer's body (one uncompressed gRPC frame). */
export function unframe(body: Buffer | null): Buffer {
  if (body === null || body.length < 5) return Buffer.alloc(0);
  if (body[0] !== 0) throw malformed("compressed message (the gateway asks for none)");
  const n = body.readUInt32BE(1);
  if (n > body.length - 5) throw malformed("truncated gRPC frame");
  return body.subarray(5, 5 + n);
}

/** Adds a tei.v1.Metadata message at `msg[start, stop)` to `sum`. */
function addMetadata(sum: MetaSum, start: number, stop: number): void {
  const outer = end;
  pos = start;
  end = stop;
  sum.items++;
  while (pos < end) {
    const tag = varint();
    const wt = tag & 7;
    if (wt !== 0) {
      skip(wt);
      continue;
    }
    const v = varint();
    switch (tag >>> 3) {
      case 1:
        sum.chars += v;
        break;
      case 2:
        sum.tokens += v;
        break;
      case 3:
        sum.totalNs += v;
        break;
      case 4:
        sum.tokenizationNs += v;
        break;
      case 5:
        sum.queueNs += v;
        break;
      case 6:
        sum.inferenceNs += v;
        break;
    }
  }
  end = outer;
}

/** Adds the Metadata (field 2) of an inference answer to `sum`. */
export function sumMetadata(msg: Buffer, sum: MetaSum): void {
  buf = msg;
  pos = 0;
  end = msg.length;
  while (pos < end) {
    const tag = varint();
    if (tag === ((2 << 3) | 2)) {
      const n = varint();
      const start = pos;
      if (n > end - pos) throw malformed("metadata runs past the end");
      addMetadata(sum, start, start + n);
      pos = start + n;
    } else {
      skip(tag & 7);
    }
  }
}

/**
 * The little-endian float32 bytes of an EmbedResponse's `embeddings` (field 1), and adds its
 * Metadata to `sum`. A view into `msg` when the field is packed once (as TEI sends it); a copy
 * when a sender split it or did not pack it.
 */
export function embeddingBytes(msg: Buffer, sum: MetaSum): Buffer {
  buf = msg;
  pos = 0;
  end = msg.length;
  let first: Buffer | null = null;
  let parts: Buffer[] | null = null;
  while (pos < end) {
    const tag = varint();
    if (tag === ((1 << 3) | 2)) {
      const n = varint();
      if (n > end - pos || n % 4 !== 0) throw malformed("embeddings field");
      const part = msg.subarray(pos, pos + n);
      if (first === null) first = part;
      else (parts ??= [first]).push(part);
      pos += n;
    } else if (tag === ((1 << 3) | 5)) {
      if (end - pos < 4) throw malformed("embeddings field");
      const part = msg.subarray(pos, pos + 4);
      if (first === null) first = part;
      else (parts ??= [first]).push(part);
      pos += 4;
    } else if (tag === ((2 << 3) | 2)) {
      const n = varint();
      const start = pos;
      if (n > end - pos) throw malformed("metadata runs past the end");
      addMetadata(sum, start, start + n);
      buf = msg;
      pos = start + n;
      end = msg.length;
    } else {
      skip(tag & 7);
    }
  }
  if (parts !== null) return Buffer.concat(parts);
  return first ?? Buffer.alloc(0);
}
