import { STATUS_CODES } from "node:http";
import type * as http2 from "node:http2";
import * as net from "node:net";
import { ApiError } from "../errors/api-error.ts";
import { errorBody } from "../errors/error-body.ts";
import { settleHttp2Upload } from "./http2-upload.ts";
import { closeLingering, isLingering } from "./lingering-close.ts";
import type { DiscardLimits } from "./upload-discard.ts";

/** The server limits a refusal names, and how much of the client's upload is drained to deliver it. */
export interface RefusalSettings {
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  discard: DiscardLimits;
}

/** An error Node's HTTP/1.1 server reports in 'clientError': a parser error (`HPE_*`) or a timeout. */
export type ClientError = Error & { code?: string; reason?: string };

/**
 * The API error for a request Node's HTTP/1.1 server refuses before the app sees it, or
 * `undefined` when the connection itself failed (reset, broken pipe): nothing to answer then.
 * `requestStarted`: the request's headers were complete (a timeout then concerns its body).
 */
export function clientErrorToApiError(err: ClientError, settings: RefusalSettings, requestStarted: boolean): ApiError | undefined {
  switch (err.code) {
    case "HPE_HEADER_OVERFLOW":
      return new ApiError("HEADERS_TOO_LARGE", `request header section is larger than ${settings.maxHeaderBytes} bytes`);
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return new ApiError("PAYLOAD_TOO_LARGE", "chunk extensions of the request body are too large");
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return new ApiError(
        "REQUEST_TIMEOUT",
        requestStarted ? `request not received within ${settings.requestTimeoutMs} ms` : `request headers not received within ${settings.headersTimeoutMs} ms`,
      );
  }
  if (err.code?.startsWith("HPE_")) return new ApiError("MALFORMED_REQUEST", `malformed HTTP/1.1 request: ${err.reason ?? err.message}`);
  return undefined;
}

/** A complete HTTP/1.1 response carrying `err` as the API's JSON error body, closing the connection. */
export function http1ErrorResponse(err: ApiError, now = new Date()): Buffer {
  const body = JSON.stringify(errorBody(err, now));
  return Buffer.from(
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? "Error"}\r\n` +
      "content-type: application/json; charset=utf-8\r\n" +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      `date: ${now.toUTCString()}\r\n` +
      "connection: close\r\n\r\n" +
      body,
  );
}

/**
 * The HTTP/1.1 server's 'clientError' listener. Node's own answers to these (431, 400, 408) are a
 * bare status line with no body, and it destroys the socket right after writing them (so a
 * client still sending may get a reset instead); this answers in the API's JSON error shape and
 * closes with {@link closeLingering}. A timed-out client is not waited for: it is closed as soon
 * as its answer is written.
 */
export function answerClientError(err: ClientError, socket: net.Socket, settings: RefusalSettings): void {
  // The answer before this one closed the connection; what the parser makes of the rest is moot.
  if (isLingering(socket)) return;
  const parser = (socket as { parser?: { incoming?: unknown } | null }).parser;
  const apiError = clientErrorToApiError(err, settings, Boolean(parser?.incoming));
  const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  // As Node does: answer only when nothing of another response has been written yet.
  if (!apiError || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  socket.write(http1ErrorResponse(apiError));
  if (apiError.code === "REQUEST_TIMEOUT") net.Socket.prototype.destroySoon.call(socket);
  else closeLingering(socket, settings.discard);
}

/**
 * Size of a request's header list as HTTP/2 counts it (RFC 9113 §6.5.2: every name and value
 * plus 32 bytes per field), from Node's flat `rawHeaders`.
 */
export function headerListBytes(rawHeaders: string[]): number {
  let bytes = 0;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) bytes += rawHeaders[i]!.length + rawHeaders[i + 1]!.length + 32;
  return bytes;
}

/**
 * Answers an HTTP/2 request with `err` as the API's JSON error body, for refusals made before the
 * app sees the request; like every HTTP/2 answer, after the rest of its upload (bounded).
 */
export async function answerHttp2Refusal(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, err: ApiError, discard: DiscardLimits): Promise<void> {
  await settleHttp2Upload(req, discard);
  const body = JSON.stringify(errorBody(err));
  res.writeHead(err.status, { "content-type": "application/json; charset=utf-8", "content-length": String(Buffer.byteLength(body)) });
  res.end(body);
}
