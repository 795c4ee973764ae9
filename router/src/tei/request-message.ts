/**
 * What the router does to one request message before TEI sees it. A plain tei.v1 message is
 * forwarded as received once its `truncation_direction` is known to be safe; a multiplexer
 * wrapper gives up its target (field 1, first message only) and its TEI request (field 2), which
 * is re-framed on its own. Nothing else of the message is read.
 */
import { EMPTY_FRAME, FRAME_HEADER_BYTES, frameMessage } from "../grpc/grpc-frame.ts";
import { GrpcStatus, RouterError } from "../grpc/grpc-status.ts";
import type { MethodSpec } from "./method-table.ts";
import { scanEnumField, scanWrapper } from "./protobuf-scan.ts";
import { type Target, targetFromMessage } from "./target.ts";

/**
 * Refuses a `truncation_direction` TEI would abort on (anything but RIGHT=0 / LEFT=1).
 * @param frame - a framed message (5-byte prefix included)
 */
export function checkPlainRequest(method: MethodSpec, frame: Buffer): void {
  if (method.truncationField !== 0) checkTruncation(frame, FRAME_HEADER_BYTES, frame.length, method.truncationField);
}

/** The TEI request inside a multiplexer message, and the target when it was asked for. */
export interface Unwrapped {
  /** The framed TEI request, ready to send. */
  message: Buffer;
  /** The routing target (only when `withTarget`). */
  target: Target | null;
}

/**
 * Unwraps one multiplexer request message.
 * @param withTarget - read the target too (the first message of a call)
 * @throws RouterError INVALID_ARGUMENT for a missing target (when asked), a missing request,
 *   malformed protobuf or an unsafe truncation_direction
 */
export function unwrapMuxRequest(method: MethodSpec, frame: Buffer, withTarget: boolean): Unwrapped {
  const w = scanWrapper(frame, FRAME_HEADER_BYTES, frame.length);
  const target = withTarget ? targetFromMessage(frame, w.targetStart, w.targetEnd) : null;
  // Info: TEI's InfoRequest has no fields, whatever the wrapper carries.
  if (method.emptyRequest) return { message: EMPTY_FRAME, target };
  const r = w.requestRanges;
  if (r.length === 0) throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "missing request: the TEI request goes in field 2 (request)");
  let message: Buffer;
  if (r.length === 2) {
    message = frameMessage(frame, r[0] as number, r[1] as number);
  } else {
    // Repeated occurrences of an embedded message merge: concatenating them is the merge.
    const parts: Buffer[] = [];
    for (let i = 0; i < r.length; i += 2) parts.push(frame.subarray(r[i], r[i + 1]));
    const body = Buffer.concat(parts);
    message = frameMessage(body, 0, body.length);
  }
  checkPlainRequest(method, message);
  return { message, target };
}

function checkTruncation(bytes: Buffer, start: number, end: number, field: number): void {
  const v = scanEnumField(bytes, start, end, field);
  if (v !== 0 && v !== 1) {
    throw new RouterError(GrpcStatus.INVALID_ARGUMENT, `truncation_direction must be 0 (RIGHT) or 1 (LEFT), got ${v}`);
  }
}
