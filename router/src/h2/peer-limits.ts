/**
 * What a peer may make this side do: the limits that keep a hostile or broken HTTP/2 client from
 * turning small inputs into large work (HPACK bombs, floods of cheap frames).
 */
import { Flag, FrameType } from "./frames.ts";

/** Size of a header list as SETTINGS_MAX_HEADER_LIST_SIZE counts it (RFC 9113 §6.5.2). */
export function headerListSize(headers: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < headers.length; i++) n += (headers[i] as string).length;
  return n + 16 * headers.length; // 32 per field, two strings per field
}

/**
 * Frames a peer can send in floods to make this side work for nothing (the 2019 HTTP/2 DoS
 * advisories and 2023's "Rapid Reset"): RST_STREAM, PING and SETTINGS (not their ACKs), PRIORITY,
 * unknown types, and DATA frames that carry nothing and end nothing.
 */
export function isCheapForPeer(type: number, flags: number, payload: Buffer): boolean {
  switch (type) {
    case FrameType.RST_STREAM:
    case FrameType.PRIORITY:
      return true;
    case FrameType.PING:
    case FrameType.SETTINGS:
      return (flags & Flag.ACK) === 0;
    case FrameType.DATA:
      return payload.length === 0 && (flags & Flag.END_STREAM) === 0;
    case FrameType.HEADERS:
    case FrameType.CONTINUATION:
    case FrameType.GOAWAY:
    case FrameType.WINDOW_UPDATE:
    case FrameType.PUSH_PROMISE:
      return false;
    default:
      return true;
  }
}

/**
 * Cheap frames (see isCheapForPeer) a client may send per window before its connection is closed
 * with ENHANCE_YOUR_CALM. Generous for real clients (one cancelling 100 calls a second sends 1,000
 * resets in 10 s); a flood reaches it in a moment.
 */
const CHEAP_FRAMES_PER_WINDOW = 10_000;
const CHEAP_FRAME_WINDOW_MS = 10_000;

/** Counts a connection's cheap frames in fixed windows. */
export class CheapFrameBudget {
  private count = 0;
  private windowStart = 0;

  /** Counts one frame; false once the budget of the current window is spent. */
  take(now: number): boolean {
    if (now - this.windowStart > CHEAP_FRAME_WINDOW_MS) {
      this.windowStart = now;
      this.count = 0;
    }
    return ++this.count <= CHEAP_FRAMES_PER_WINDOW;
  }
}
