/**
 * The payloads of received frames read as RFC 9113 §6 defines them, each checked for what makes
 * it malformed (a ConnectionError with the code the RFC names): DATA's padding, RST_STREAM,
 * SETTINGS and the range of each value, PING, GOAWAY, WINDOW_UPDATE. What the values then do to
 * the connection (windows, limits, streams) is h2-connection.ts's; building frames is frames.ts's.
 */
import { ConnectionError, DEFAULT_MAX_FRAME_SIZE, ErrorCode, Flag, FrameSizeError, MAX_WINDOW, Setting } from "./frames.ts";
import { HpackError } from "./hpack-decoder.ts";

/** A DATA frame's data, its padding removed (§6.1). */
export function dataPayload(flags: number, p: Buffer): Buffer {
  if ((flags & Flag.PADDED) === 0) return p;
  const pad = p.length > 0 ? (p[0] as number) : 0;
  if (p.length === 0 || pad >= p.length) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "bad DATA padding");
  return p.subarray(1, p.length - pad);
}

/** RST_STREAM's error code (§6.4). */
export function rstStreamCode(id: number, p: Buffer): number {
  if (id === 0 || p.length !== 4) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "malformed RST_STREAM");
  return p.readUInt32BE(0);
}

/**
 * The [id, value] pairs of a SETTINGS frame (§6.5), each known setting's value within its range
 * (§6.5.2); null for an ACK.
 */
export function peerSettings(flags: number, id: number, p: Buffer): Array<[number, number]> | null {
  if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
  if ((flags & Flag.ACK) !== 0) return null;
  if (p.length % 6 !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "malformed SETTINGS");
  const out: Array<[number, number]> = [];
  for (let off = 0; off + 6 <= p.length; off += 6) {
    const key = p.readUInt16BE(off);
    const value = p.readUInt32BE(off + 2);
    if (key === Setting.INITIAL_WINDOW_SIZE && value > MAX_WINDOW) {
      throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE too large");
    }
    if (key === Setting.MAX_FRAME_SIZE && (value < DEFAULT_MAX_FRAME_SIZE || value > 16_777_215)) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "bad MAX_FRAME_SIZE");
    }
    out.push([key, value]);
  }
  return out;
}

/** Checks a PING frame (§6.7). */
export function checkPing(id: number, p: Buffer): void {
  if (id !== 0 || p.length !== 8) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "malformed PING");
}

/** GOAWAY's last stream id and error code (§6.8). */
export function goawayOf(p: Buffer): { lastStreamId: number; code: number } {
  if (p.length < 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "malformed GOAWAY");
  return { lastStreamId: p.readUInt32BE(0) & MAX_WINDOW, code: p.readUInt32BE(4) };
}

/** WINDOW_UPDATE's increment (§6.9; a zero increment is the flow controller's to refuse). */
export function windowIncrement(p: Buffer): number {
  if (p.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "malformed WINDOW_UPDATE");
  return p.readUInt32BE(0) & MAX_WINDOW;
}

/** The connection error code of what reading received bytes threw (§5.4.1). */
export function connectionErrorCode(err: unknown): number {
  if (err instanceof ConnectionError) return err.code;
  if (err instanceof FrameSizeError) return ErrorCode.FRAME_SIZE_ERROR;
  if (err instanceof HpackError) return ErrorCode.COMPRESSION_ERROR;
  return ErrorCode.INTERNAL_ERROR;
}
