import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { ApiError } from "../errors/api-error.ts";
import { answerClientError, answerHttp2Refusal, type ClientError, headerListBytes, type RefusalSettings } from "./http-refusals.ts";
import { lingerOnClose } from "./lingering-close.ts";
import { DEFAULT_DISCARD_LIMITS, type DiscardLimits } from "./upload-discard.ts";

/** The connection preface every HTTP/2 client sends first (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** A request handler both Node HTTP stacks can drive (Fastify's `serverFactory` hands one over). */
export type DualRequestHandler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

/** Options of {@link createDualProtocolServer}. Every limit applies to HTTP/1.1 and HTTP/2 alike where both have it. */
export interface DualProtocolServerOptions {
  /** Idle HTTP/1.1 keep-alive timeout in ms. Default 72 000 (Fastify's; above the 60 s idle timeout of common balancers, so they close first). */
  keepAliveTimeoutMs?: number;
  /** Idle HTTP/2 session timeout in ms; active streams (watches) are never cut. Default 72 000. */
  http2SessionTimeoutMs?: number;
  /** How long to wait for the first bytes of a connection (for HTTP/2, its whole preface) before dropping it. Default 10 000. */
  sniffTimeoutMs?: number;
  /** How long an HTTP/1.1 client may take to send a request's headers, ms; then 408. Default 10 000 (Node's is 60 000). */
  headersTimeoutMs?: number;
  /** How long an HTTP/1.1 client may take to send a whole request, headers and body, ms; then 408. Default 60 000. */
  requestTimeoutMs?: number;
  /**
   * How often HTTP/1.1 connections are checked against the two timeouts above, ms: they are only
   * enforced at these checks (Node's default of 30 000 let a 10 s headers timeout run 40 s).
   * Default 1000.
   */
  connectionsCheckingIntervalMs?: number;
  /** Largest request header section, bytes: HTTP/1.1's, and HTTP/2's header list (RFC 9113 §6.5.2); larger is 431. Default 16 384 (Node's HTTP/1.1 default). */
  maxHeaderBytes?: number;
  /**
   * An answer sent before its request's upload ended (a 413, a refused header section) waits
   * for the rest of the upload, read and dropped, up to this many bytes: on HTTP/1.1 after the
   * answer, before the connection closes; on HTTP/2 before the answer. Default 32 MiB.
   */
  discardMaxBytes?: number;
  /** ...and for at most this long, ms. Default 5000. */
  discardMaxMs?: number;
  /** After `close()`, connections still open after this long are destroyed, ms. Default 5000. */
  closeGraceMs?: number;
}

/** {@link DualProtocolServerOptions} with every default filled in. */
export type DualProtocolServerSettings = Required<DualProtocolServerOptions>;

/** Fills in the defaults of {@link DualProtocolServerOptions}. */
export function dualProtocolServerSettings(options: DualProtocolServerOptions = {}): DualProtocolServerSettings {
  return {
    keepAliveTimeoutMs: 72_000,
    http2SessionTimeoutMs: 72_000,
    sniffTimeoutMs: 10_000,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 60_000,
    connectionsCheckingIntervalMs: 1000,
    maxHeaderBytes: 16 * 1024,
    discardMaxBytes: DEFAULT_DISCARD_LIMITS.maxBytes,
    discardMaxMs: DEFAULT_DISCARD_LIMITS.maxMs,
    closeGraceMs: 5000,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  };
}

/** The discard limits of a server's settings. */
export function discardLimits(settings: DualProtocolServerSettings): DiscardLimits {
  return { maxBytes: settings.discardMaxBytes, maxMs: settings.discardMaxMs };
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
 * Refusals made below the request handler answer in the API's JSON error shape too: HTTP/1.1
 * parser errors (400 MALFORMED_REQUEST), header sections over `maxHeaderBytes` (431, on both
 * protocols), and requests whose headers or body do not arrive in time (408; see
 * `headersTimeoutMs`), so a client dribbling its headers holds a connection 10 s, not 60 s.
 * HTTP/1.1 connections that close after an answer linger (lingering-close.ts) so that a client
 * still uploading reads its answer instead of a reset.
 *
 * The returned object is a `net.Server` (what Fastify's `serverFactory` must return) with
 * `closeIdleConnections` / `closeAllConnections`, and a `close` that ends idle connections of
 * both kinds and destroys whatever is left after `closeGraceMs`.
 */
export function createDualProtocolServer(handler: DualRequestHandler, options: DualProtocolServerOptions = {}): DualProtocolServer {
  const settings = dualProtocolServerSettings(options);
  const discard = discardLimits(settings);
  const refusals: RefusalSettings = { ...settings, discard };
  const h1 = http.createServer(
    {
      headersTimeout: settings.headersTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      connectionsCheckingInterval: settings.connectionsCheckingIntervalMs,
      maxHeaderSize: settings.maxHeaderBytes,
    },
    handler as http.RequestListener,
  );
  h1.keepAliveTimeout = settings.keepAliveTimeoutMs;
  h1.on("clientError", (err: ClientError, socket: net.Socket) => answerClientError(err, socket, refusals));
  // Node's HTTP/2 server refuses header lists over its SETTINGS_MAX_HEADER_LIST_SIZE (64 KiB)
  // without a word; below that, the same limit as HTTP/1.1's applies here, with the same answer.
  const h2 = http2.createServer((req, res) => {
    if (headerListBytes(req.rawHeaders) > settings.maxHeaderBytes) {
      const refusal = new ApiError("HEADERS_TOO_LARGE", `request header list is larger than ${settings.maxHeaderBytes} bytes`);
      answerHttp2Refusal(req, res, refusal, discard).catch(() => res.stream.destroy());
      return;
    }
    handler(req, res);
  });
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
    session.setTimeout(settings.http2SessionTimeoutMs, () => session.close());
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
  h1.on("request", (_req, res) => {
    if (closing) res.setHeader("connection", "close");
  });

  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    let peeked = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), settings.sniffTimeoutMs);
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
      if (!isH2) lingerOnClose(socket, discard);
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
    const force = setTimeout(() => {
      for (const socket of sockets) socket.destroy();
    }, settings.closeGraceMs);
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
