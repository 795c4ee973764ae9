import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";

/** The connection preface every HTTP/2 client sends first (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** A request handler both Node HTTP stacks can drive (Fastify's `serverFactory` hands one over). */
export type DualRequestHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** Options of {@link createDualProtocolServer}. */
export interface DualProtocolServerOptions {
  /** Idle HTTP/1.1 keep-alive timeout in ms. Default 72 000 (Fastify's default). */
  keepAliveTimeoutMs?: number;
  /** Idle HTTP/2 session timeout in ms; active streams (watches) are never cut. Default 72 000. */
  http2SessionTimeoutMs?: number;
  /** How long to wait for the first bytes of a connection before dropping it. Default 10 000. */
  sniffTimeoutMs?: number;
  /** After `close()`, connections still open after this long are destroyed, ms. Default 5000. */
  closeGraceMs?: number;
}

/**
 * A TCP server that serves HTTP/1.1 and cleartext HTTP/2 (h2c, prior knowledge) on one port.
 *
 * Node cannot do this with one server: `http2.createServer({ allowHTTP1 })` only negotiates over
 * TLS (ALPN), and an h2c server rejects HTTP/1.1 clients. So this server peeks at the first bytes
 * of each connection: the HTTP/2 preface goes to an `http2` server, anything else to an `http`
 * server, both driving the same request handler. The peeked bytes are pushed back with
 * `unshift`, and the socket is handed over with `emit("connection")`, the documented way of
 * injecting a connection into a Node HTTP server. curl, Prometheus and browsers therefore work
 * on the same port as gRPC clients.
 *
 * The returned object is a `net.Server` (what Fastify's `serverFactory` must return) with
 * `closeIdleConnections` / `closeAllConnections` so that Fastify's close works as usual.
 */
export function createDualProtocolServer(handler: DualRequestHandler, options: DualProtocolServerOptions = {}): DualProtocolServer {
  const h1 = http.createServer(handler as http.RequestListener);
  h1.keepAliveTimeout = options.keepAliveTimeoutMs ?? 72_000;
  const h2 = http2.createServer(handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.setTimeout(options.http2SessionTimeoutMs ?? 72_000, () => session.close());
  });
  const sockets = new Set<net.Socket>();
  const sniffTimeoutMs = options.sniffTimeoutMs ?? 10_000;

  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    let peeked = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), sniffTimeoutMs);
    const onData = (chunk: Buffer) => {
      peeked = Buffer.concat([peeked, chunk]);
      const n = Math.min(peeked.length, H2_PREFACE.length);
      const isH2Prefix = peeked.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      // Decide as soon as the bytes rule one protocol out; wait while they could still be either.
      if (isH2Prefix && n < H2_PREFACE.length) return;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onEarlyError);
      socket.pause();
      socket.unshift(peeked);
      (isH2Prefix ? h2 : h1).emit("connection", socket);
      // The HTTP/1.1 server reads through the stream's 'data' events; resume it in case pause()
      // stopped the flow. HTTP/2 drains the stream buffer itself.
      if (!isH2Prefix) socket.resume();
    };
    const onEarlyError = () => socket.destroy();
    socket.on("data", onData);
    socket.on("error", onEarlyError);
  }) as DualProtocolServer;

  // The HTTP/1.1 server never listens itself; its connection tracking (idle-connection closing,
  // headersTimeout/requestTimeout enforcement) starts on its 'listening' event, so relay it.
  front.on("listening", () => h1.emit("listening"));
  let closing = false;
  h1.on("request", (_req, res) => { if (closing) res.setHeader("connection", "close"); });
  const netClose = front.close.bind(front);
  front.close = (callback?: (err?: Error) => void) => {
    closing = true;
    // Closes idle keep-alive connections and stops the HTTP/1.1 timeout checker.
    h1.close(() => {});
    for (const session of sessions) session.close();
    const force = setTimeout(() => { for (const socket of sockets) socket.destroy(); }, options.closeGraceMs ?? 5000);
    force.unref();
    return netClose((err) => {
      clearTimeout(force);
      callback?.(err);
    });
  };
  front.http1 = h1;
  front.http2 = h2;
  front.closeIdleConnections = () => {
    h1.closeIdleConnections();
    // GOAWAY: the session ends once its open streams finish.
    for (const session of sessions) session.close();
  };
  front.closeAllConnections = () => {
    h1.closeAllConnections();
    for (const session of sessions) session.destroy();
    for (const socket of sockets) socket.destroy();
  };
  return front;
}

/** A `net.Server` that speaks HTTP/1.1 and h2c on one port. */
export interface DualProtocolServer extends net.Server {
  /** The HTTP/1.1 server connections are handed to. */
  http1: http.Server;
  /** The HTTP/2 server connections are handed to. */
  http2: http2.Http2Server;
  /** Closes idle HTTP/1.1 connections and sends GOAWAY on every HTTP/2 session. */
  closeIdleConnections(): void;
  /** Destroys every connection. */
  closeAllConnections(): void;
}
