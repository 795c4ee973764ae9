/**
 * One port for HTTP/1.1 and h2c (HTTP/2 over cleartext with prior knowledge, as gRPC-style and
 * HTTP/2-capable clients connect): the first bytes of a connection tell them apart (an HTTP/2
 * client starts with its preface, `PRI * HTTP/2.0`), and the socket is handed to node:http's
 * server or node:http2's. node:http reads the first bytes again from the socket's buffer; an
 * HTTP/2 session reads its socket's handle directly, so it gets a small stream that replays them.
 */
import type { Server as HttpServer } from "node:http";
import type { Http2Server } from "node:http2";
import { createServer, type Server, type Socket } from "node:net";
import { Duplex } from "node:stream";

/** A socket whose first chunk was already read: that chunk, then the socket's bytes. */
class ReplaySocket extends Duplex {
  private readonly socket: Socket;

  constructor(socket: Socket, first: Buffer) {
    super();
    this.socket = socket;
    this.push(first);
    socket.on("data", (d: Buffer) => {
      if (!this.push(d)) socket.pause();
    });
    socket.on("end", () => this.push(null));
    socket.on("close", () => this.destroy());
    socket.on("error", (err) => this.destroy(err));
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }

  // What node:http2 may call on a socket.
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
}

/**
 * A TCP server that hands each connection to `h1` or `h2` by its first bytes. A connection that
 * sends nothing for `idleMs` is closed. The returned set holds every open socket (for shutdown).
 */
export function createSniffingServer(h1: HttpServer, h2: Http2Server, idleMs: number): { server: Server; sockets: Set<Socket> } {
  const sockets = new Set<Socket>();
  const server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.setTimeout(idleMs, () => socket.destroy());
    socket.once("data", (first: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      if (first.length >= 3 && first[0] === 0x50 && first[1] === 0x52 && first[2] === 0x49 /* PRI */) {
        h2.emit("connection", new ReplaySocket(socket, first));
        return;
      }
      socket.unshift(first);
      h1.emit("connection", socket);
      socket.resume();
    });
  });
  return { server, sockets };
}
