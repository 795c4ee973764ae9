/**
 * The front of the router's HTTP/2 layer (h2c on raw sockets): everything outside `h2/` imports
 * from here, never from the files behind it, so the protocol stays one replaceable unit that is
 * held to its conformance tests from outside (router/test/h2-*.test.ts, hpack*.test.ts,
 * request-headers.test.ts, malformed-headers.test.ts).
 *
 * What it offers: a server side that hands each well-formed request stream to a callback
 * (malformed ones, RFC 9113 §8.1.1, are reset here and never handed on), a client side that
 * opens streams toward a backend within its concurrency limit, the stream object with its
 * handler interface, and the error codes a stream's owner sends or receives.
 */
export { ErrorCode } from "./frames.ts";
export { H2ClientConnection, type H2ClientOptions } from "./h2-client-connection.ts";
export type { H2Connection, H2ConnectionOptions } from "./h2-connection.ts";
export { H2ServerConnection, type H2ServerOptions } from "./h2-server-connection.ts";
export { H2Stream, headerValue, type StreamConnection, type StreamHandler } from "./h2-stream.ts";
export { type SlabReader, slabReader } from "./slab-reader.ts";
