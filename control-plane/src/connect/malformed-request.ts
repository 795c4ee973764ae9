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

/** Rewrites connect-es's INTERNAL "parse binary" error into INVALID_ARGUMENT; leaves others alone. */
function reclassifyParseFailure(reason: unknown, typeName: string): void {
  if (!(reason instanceof ConnectError) || reason.code !== Code.Internal) return;
  if (!reason.rawMessage.startsWith(PARSE_BINARY_PREFIX)) return;
  const problem = reason.rawMessage.slice(PARSE_BINARY_PREFIX.length);
  const rawMessage = `malformed request: not a valid protobuf binary ${typeName} (${problem})`;
  // ConnectError's fields are readonly in its type only; the protocol handler reads them after
  // this listener returns (status, grpc-status, error body), so the client gets the new values.
  Object.assign(reason, { code: Code.InvalidArgument, rawMessage, message: `[invalid_argument] ${rawMessage}` });
}
