import type * as net from "node:net";
import { finished } from "node:stream/promises";
import { type DiscardLimits, discardUpload } from "./upload-discard.ts";

/** Sockets in their lingering close: errors the HTTP parser still reports on them are moot. */
const lingering = new WeakSet<net.Socket>();

/** Whether `socket` is closing through {@link closeLingering}. */
export function isLingering(socket: net.Socket): boolean {
  return lingering.has(socket);
}

/**
 * Closes an HTTP/1.1 connection the way RFC 9112 §9.6 asks: send FIN after the last answer, then
 * keep reading (and dropping) what the client still sends until it closes its side or a limit
 * is reached, and only then close. Closing a socket with unread bytes makes the kernel send RST,
 * and a client still uploading (a body over the limit, headers over the limit) then typically
 * fails with ECONNRESET/EPIPE instead of reading the answer that was already on its way.
 *
 * The HTTP parser is detached first, so nothing the client sends after the answer (the rest of
 * a body, pipelined requests) is parsed or served.
 */
export function closeLingering(socket: net.Socket, limits: DiscardLimits): void {
  if (socket.destroyed || lingering.has(socket)) return;
  lingering.add(socket);
  socket.end();
  // Stop feeding Node's HTTP parser. Once its parser no longer consumes the handle directly
  // (adding any 'data' listener, as discardUpload does below, makes Node hand that back), it
  // reads through its own 'data' listener, removed here.
  for (const listener of socket.listeners("data")) socket.off("data", listener as (...args: unknown[]) => void);
  // Destroying discards unsent bytes: wait for the answer to be flushed too (as long, at most).
  const flushed = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, limits.maxMs);
    timer.unref();
    finished(socket, { readable: false })
      .catch(() => undefined)
      .finally(() => {
        clearTimeout(timer);
        resolve();
      });
  });
  const discarded = discardUpload(socket, limits);
  readFromHandle(socket);
  void Promise.all([discarded, flushed]).then(() => socket.destroy());
}

/**
 * Makes sure the socket's handle is reading. Node's HTTP server stops reading at the handle
 * while answers are pending (pipelined requests) and reads through its parser rather than the
 * stream, so the stream may believe a read is under way and never start one: the client's FIN
 * would never be seen. Node's own 'resume' handler for these sockets does the same.
 */
function readFromHandle(socket: net.Socket): void {
  const handle = (socket as { _handle?: { reading?: boolean; readStart?(): number } | null })._handle;
  if (!handle || handle.reading || !handle.readStart) return;
  handle.reading = true;
  handle.readStart();
}

/**
 * Makes Node's HTTP/1.1 server close `socket` with {@link closeLingering}. The server ends a
 * connection after an answer carrying `connection: close` (Fastify's after a refused body, for
 * one) with `socket.destroySoon()`, which destroys it as soon as the answer is written, unread
 * bytes or not; that is the one call replaced here.
 */
export function lingerOnClose(socket: net.Socket, limits: DiscardLimits): void {
  socket.destroySoon = () => closeLingering(socket, limits);
}
