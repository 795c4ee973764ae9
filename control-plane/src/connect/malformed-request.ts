import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";

/**
 * A request message that is not valid protobuf binary (Connect `application/proto`, gRPC,
 * gRPC-web) is the client's mistake, so it must be INVALID_ARGUMENT. connect-es 2.2.0 reports it
 * as INTERNAL instead: its binary serialization hard-codes `Code.Internal` for "parse binary"
 * (following gRPC's rule that the framework itself never produces INVALID_ARGUMENT), while
 * malformed JSON gets INVALID_ARGUMENT.
 *
 * connect-es offers no hook to change that: there is no custom serialization option, and for
 * unary RPCs the body is parsed before interceptors run, so they never see the error. What every
 * protocol handler does do is pass the error to `context.abort(error)` just before writing it to
 * the wire. So a listener on the handler context's abort signal, registered when the request
 * arrives, turns that one error into INVALID_ARGUMENT, in place, before it is written.
 * `test/api-connect-malformed.test.ts` fails if a connect-es upgrade changes that order.
 *
 * A string field that is not UTF-8 (protobuf-es decodes proto3 strings with a fatal decoder) is
 * said so plainly, with the catalogue code VALIDATION_ERROR in `x-error-code` (any other malformed
 * message: MALFORMED_REQUEST); the field itself cannot be named, as the decoder does not say and the bytes are gone by then.
 *
 * Only request parsing produces "parse binary" errors here: the control plane makes no Connect
 * calls of its own (where a malformed *response* would rightly be INTERNAL).
 */

/** The prefix connect-es gives the message of a protobuf binary parse failure. */
const PARSE_BINARY_PREFIX = "parse binary: ";

/**
 * Arranges for this RPC's request-parse failure, if any, to be answered as INVALID_ARGUMENT with
 * a message naming the expected message type and what is wrong with the bytes. Call it from the
 * `requestGate`, which runs for every RPC and protocol before the body is read.
 */
export function reportMalformedRequestsAsInvalidArgument(ctx: HandlerContext): void {
  const signal = ctx.signal;
  if (signal.aborted) return;
  signal.addEventListener("abort", () => reclassifyParseFailure(signal.reason, ctx.method.input.typeName), { once: true });
}

/**
 * What Node's fatal TextDecoder says when protobuf-es reads a proto3 string that is not UTF-8
 * (for instance CESU-8 `ED A0 80`, a lone surrogate written as if it were a character).
 */
const NOT_UTF8 = /not valid for encoding utf-8/i;

/** Rewrites connect-es's INTERNAL "parse binary" error into INVALID_ARGUMENT; leaves others alone. */
function reclassifyParseFailure(reason: unknown, typeName: string): void {
  if (!(reason instanceof ConnectError) || reason.code !== Code.Internal) return;
  if (!reason.rawMessage.startsWith(PARSE_BINARY_PREFIX)) return;
  const problem = reason.rawMessage.slice(PARSE_BINARY_PREFIX.length);
  // protobuf-es's decoder fails without saying which field, and the bytes are gone by now, so
  // the field cannot be named; the catalogue code still tells it from a truncated message.
  const notUtf8 = NOT_UTF8.test(problem);
  const rawMessage = notUtf8
    ? `malformed request: a string field of ${typeName} is not valid UTF-8 (strings must be well-formed Unicode; a lone surrogate cannot be encoded)`
    : `malformed request: not a valid protobuf binary ${typeName} (${problem})`;
  // Built by connect-es, never by toConnectError, so the catalogue code is set here: every Connect
  // error carries one.
  reason.metadata.set("x-error-code", notUtf8 ? "VALIDATION_ERROR" : "MALFORMED_REQUEST");
  // ConnectError's fields are readonly in its type only; the protocol handler reads them after
  // this listener returns (status, grpc-status, error body), so the client gets the new values.
  Object.assign(reason, { code: Code.InvalidArgument, rawMessage, message: `[invalid_argument] ${rawMessage}` });
}
