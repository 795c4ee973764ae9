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
 * `closeIdleConnections` / `closeAllConnections`, and a `close` that ends idle connections of
 * both kinds and destroys whatever is left after `closeGraceMs`.
 */
export function createDualProtocolServer(handler: DualRequestHandler, options: DualProtocolServerOptions = {}): DualProtocolServer {
  const h1 = http.createServer(handler as http.RequestListener);
  h1.keepAliveTimeout = options.keepAliveTimeoutMs ?? 72_000;
  const h2 = http2.createServer(handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  const sockets = new Set<net.Socket>();
  let closing = false;

  // HTTP/2 bookkeeping. A session that got GOAWAY stays open as long as the client keeps its
  // side open, and destroying a session only half-closes its socket; so each session's raw
  // socket is remembered (h2 emits 'session' synchronously inside emit("connection")) and open
  // streams are counted, to end idle sessions for good at close.
  const openStreams = new Map<http2.ServerHttp2Session, number>();
  const rawSocket = new Map<http2.ServerHttp2Session, net.Socket>();
  let handingOver: net.Socket | undefined;
  const endIfIdle = (session: http2.ServerHttp2Session) => {
    if (!closing || (openStreams.get(session) ?? 0) > 0) return;
    session.destroy();
    rawSocket.get(session)?.destroy();
  };
  h2.on("session", (session) => {
    openStreams.set(session, 0);
    if (handingOver) rawSocket.set(session, handingOver);
    session.setTimeout(options.http2SessionTimeoutMs ?? 72_000, () => session.close());
    session.once("close", () => {
      rawSocket.get(session)?.destroy();
      rawSocket.delete(session);
      openStreams.delete(session);
    });
  });
  h2.on("stream", (stream) => {
    const session = stream.session as http2.ServerHttp2Session | undefined;
    if (!session || !openStreams.has(session)) return;
    openStreams.set(session, openStreams.get(session)! + 1);
    stream.once("close", () => {
      if (!openStreams.has(session)) return;
      openStreams.set(session, Math.max(0, openStreams.get(session)! - 1));
      endIfIdle(session);
    });
  });

  // HTTP/1.1 bookkeeping. The server never listens itself; its connection tracking (idle
  // closing, headersTimeout/requestTimeout enforcement) starts on its 'listening' event.
  h1.on("request", (_req, res) => { if (closing) res.setHeader("connection", "close"); });

  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    let peeked = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), options.sniffTimeoutMs ?? 10_000);
    const onEarlyError = () => socket.destroy();
    const onData = (chunk: Buffer) => {
      peeked = Buffer.concat([peeked, chunk]);
      const n = Math.min(peeked.length, H2_PREFACE.length);
      const isH2 = peeked.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      // Decide as soon as the bytes rule one protocol out; wait while they could still be either.
      if (isH2 && n < H2_PREFACE.length) return;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onEarlyError);
      socket.pause();
      socket.unshift(peeked);
      handingOver = socket;
      (isH2 ? h2 : h1).emit("connection", socket);
      handingOver = undefined;
      // HTTP/1.1 reads through the stream's 'data' events: resume the flow pause() stopped.
      // HTTP/2 drains the stream's buffer itself.
      if (!isH2) socket.resume();
    };
    socket.on("data", onData);
    socket.on("error", onEarlyError);
  }) as DualProtocolServer;
  front.on("listening", () => h1.emit("listening"));

  const netClose = front.close.bind(front);
  front.close = (callback?: (err?: Error) => void) => {
    closing = true;
    // Closes idle keep-alive connections and stops the HTTP/1.1 timeout checker.
    h1.close(() => {});
    for (const session of openStreams.keys()) {
      session.close();
      endIfIdle(session);
    }
    // Requests in flight at close time (watch streams until they are aborted) leave keep-alive
    // connections behind when they end: keep closing the idle ones until none is left.
    const sweep = setInterval(() => h1.closeIdleConnections(), 100);
    const force = setTimeout(() => { for (const socket of sockets) socket.destroy(); }, options.closeGraceMs ?? 5000);
    sweep.unref();
    force.unref();
    return netClose((err) => {
      clearInterval(sweep);
      clearTimeout(force);
      callback?.(err);
    });
  };
  front.http1 = h1;
  front.http2 = h2;
  front.closeIdleConnections = () => {
    h1.closeIdleConnections();
    for (const session of openStreams.keys()) session.close();
  };
  front.closeAllConnections = () => {
    h1.closeAllConnections();
    for (const socket of sockets) socket.destroy();
  };
  return front;
}
