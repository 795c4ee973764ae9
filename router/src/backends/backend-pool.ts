/**
 * One HTTP/2 (h2c) connection per TEI backend, shared by every call to it, re-established when it
 * dies. A connection that receives GOAWAY (or runs out of stream ids) stops taking new streams
 * but lets its open ones finish; the next call opens a fresh one.
 *
 * Replicas are seen through {@link BackendHolder} (an address and a cache slot), so the pool does
 * not depend on the route table, whose Replica type holds that slot.
 */
import { connect as netConnect } from "node:net";
import type { Logger } from "pino";
import { H2ClientConnection, type H2Stream, type StreamHandler, slabReader } from "../h2/index.ts";

/** What the pool reads of a replica (a route-table Replica): its address, and where it caches the Backend. */
export interface BackendHolder {
  /** host:port of the replica's TEI gRPC server. */
  readonly address: string;
  /** The connection holder, attached by {@link BackendPool.forReplica} on first use. */
  backend: Backend | null;
}

/** Options of the backend pool; every field has a default. */
export interface BackendPoolOptions {
  /** How long a connection attempt may take before its calls fail over. Default 3000 ms. */
  connectTimeoutMs?: number;
  /** PING a silent connection with open streams after this long, close it after twice; 0 disables. Default 5000 ms. */
  keepaliveMs?: number;
  /** HTTP/2 stream flow-control window toward backends. Default 4 MiB. */
  streamWindowBytes?: number;
  /** HTTP/2 connection flow-control window toward backends. Default 32 MiB. */
  connectionWindowBytes?: number;
}

/** The connection holder of one backend address. */
export class Backend {
  /** host:port of the TEI gRPC server. */
  readonly address: string;
  private readonly host: string;
  private readonly port: number;
  private readonly opts: Required<BackendPoolOptions>;
  private readonly log: Logger;
  private conn: H2ClientConnection | null = null;
  /** Every connection still open, including ones that only finish their streams. */
  private readonly open = new Set<H2ClientConnection>();
  private closed = false;

  /** Use BackendPool.forReplica() instead. */
  constructor(address: string, opts: Required<BackendPoolOptions>, log: Logger) {
    this.address = address;
    const i = address.lastIndexOf(":");
    this.host = address.slice(0, i).replace(/^\[(.*)\]$/, "$1");
    this.port = Number(address.slice(i + 1));
    this.opts = opts;
    this.log = log;
  }

  /**
   * Opens a stream to the backend, connecting first when there is no usable connection.
   * A failed or timed-out connection reaches the handler as `onReset`.
   */
  request(headers: readonly string[], handler: StreamHandler): H2Stream {
    let c = this.conn;
    if (c === null || !c.canOpenStreams) c = this.connect();
    return c.openStream(headers, handler);
  }

  /** True while a connection is open or being opened. */
  get connected(): boolean {
    return this.conn !== null && !this.conn.closed;
  }

  /** Closes gracefully (open streams finish) and refuses to reconnect. */
  close(): void {
    this.closed = true;
    for (const c of this.open) c.goaway();
    this.conn = null;
  }

  /** Tears every connection down at once (shutdown after the grace period). */
  destroy(): void {
    this.closed = true;
    for (const c of this.open) c.destroy();
    this.conn = null;
  }

  private connect(): H2ClientConnection {
    if (this.closed) throw new Error(`backend ${this.address} was removed from the route table`);
    // Small requests and responses: send each as soon as it is written (no Nagle delay). Reads
    // go straight to the connection (slab-reader.ts: no Readable machinery per answer).
    let reader: H2ClientConnection | null = null;
    const onread = slabReader((chunk) => reader?.receive(chunk));
    const socket = netConnect({ host: this.host, port: this.port, noDelay: true, onread });
    const forget = (): void => {
      if (this.conn === conn) this.conn = null;
    };
    const conn = new H2ClientConnection(socket, {
      streamWindow: this.opts.streamWindowBytes,
      connectionWindow: this.opts.connectionWindowBytes,
      keepaliveMs: this.opts.keepaliveMs,
      ownReads: true,
      onGoaway: forget,
      onClose: (_conn, reason) => {
        clearTimeout(timer);
        forget();
        this.open.delete(conn);
        this.log.debug({ backend: this.address, reason }, "backend connection closed");
      },
    });
    const timer = setTimeout(() => {
      if (!socket.connecting) return;
      this.log.warn({ backend: this.address }, "backend connect timed out");
      socket.destroy(new Error(`connect to ${this.address} timed out`));
    }, this.opts.connectTimeoutMs);
    timer.unref();
    socket.once("connect", () => clearTimeout(timer));
    socket.once("error", (err: Error) => this.log.debug({ backend: this.address, err: err.message }, "backend connection error"));
    reader = conn;
    this.conn = conn;
    this.open.add(conn);
    return conn;
  }
}

/** Backends by address. */
export class BackendPool {
  private readonly backends = new Map<string, Backend>();
  private readonly opts: Required<BackendPoolOptions>;
  private readonly log: Logger;

  /** @param log - receives connection problems at debug/warn level */
  constructor(log: Logger, opts: BackendPoolOptions = {}) {
    this.log = log;
    this.opts = {
      connectTimeoutMs: opts.connectTimeoutMs ?? 3000,
      keepaliveMs: opts.keepaliveMs ?? 5000,
      streamWindowBytes: opts.streamWindowBytes ?? 4 << 20,
      connectionWindowBytes: opts.connectionWindowBytes ?? 32 << 20,
    };
  }

  /** The backend of a replica, created on first use and cached on the replica. */
  forReplica(r: BackendHolder): Backend {
    const cached = r.backend;
    if (cached !== null) return cached;
    let b = this.backends.get(r.address);
    if (b === undefined) {
      b = new Backend(r.address, this.opts, this.log);
      this.backends.set(r.address, b);
    }
    r.backend = b;
    return b;
  }

  /** Closes the connections of addresses no longer in the table. */
  retain(addresses: ReadonlySet<string>): void {
    for (const [address, b] of this.backends) {
      if (!addresses.has(address)) {
        b.close();
        this.backends.delete(address);
      }
    }
  }

  /** Closes the connection of one address no longer in the table (open calls finish first). */
  release(address: string): void {
    const b = this.backends.get(address);
    if (b === undefined) return;
    b.close();
    this.backends.delete(address);
  }

  /** Number of backends with an open (or opening) connection. */
  get openConnections(): number {
    let n = 0;
    for (const b of this.backends.values()) if (b.connected) n++;
    return n;
  }

  /** Closes every connection; `hard` destroys instead of draining. */
  closeAll(hard = false): void {
    for (const b of this.backends.values()) hard ? b.destroy() : b.close();
    this.backends.clear();
  }
}
