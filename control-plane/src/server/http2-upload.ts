import * as http2 from "node:http2";
import { type DiscardLimits, discardUpload } from "./upload-discard.ts";

/**
 * Lets the rest of an HTTP/2 request's upload arrive (read and dropped, within `limits`) before
 * the caller sends an answer that does not need it, such as a 413 for a body over the limit.
 *
 * HTTP/2 allows answering early and resetting the rest of the upload (RFC 9113 §8.1), and this
 * server does; but Node's HTTP/2 client counts the upload it still has buffered against its
 * session memory (`maxSessionMemory`, 10 MB by default), and when an answer arrives while that is
 * exhausted it resets the stream itself with ENHANCE_YOUR_CALM and drops the answer. So a
 * 10 MB body sent in one write never got its 413. Answering once the upload has been read lets
 * every client read its answer. When a limit stops the reading first, the answer goes anyway,
 * and the rest of the upload is reset with RST_STREAM(NO_ERROR) once it is sent.
 */
export async function settleHttp2Upload(req: http2.Http2ServerRequest, limits: DiscardLimits): Promise<void> {
  const { stream } = req;
  if (req.complete || stream.endAfterHeaders) return;
  if (await discardUpload(req, limits)) return;
  if (stream.writableFinished) stream.close(http2.constants.NGHTTP2_NO_ERROR);
  else stream.once("finish", () => stream.close(http2.constants.NGHTTP2_NO_ERROR));
}
