/**
 * One HTTP/2 (h2c) connection per TEI backend, shared by every call to it, re-established when it
 * dies. A connection that receives GOAWAY stops taking new streams but lets its open ones finish.
 */
import {
  connect,
  constants as h2,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type OutgoingHttpHeaders,
} from "node:http2";
import { connect as netConnect } from "node:net";
import type { Logger } from "pino";
import type { Replica } from "./route-table.ts";

/** Options of the backend pool; every field has a default. */
export interface BackendPoolOptions {
  /** How long a connection attempt may take before its calls fail over. Default 3000 ms. */
  connectTimeoutMs?: number;
  /** HTTP/2 stream flow-control window toward backends. Default 4 MiB. */
  streamWindowBytes?: number;
  /** HTTP/2 connection flow-control window toward backends. Default 32 MiB. */
  connectionWindowBytes?: number;
}

const REQUEST_OPTIONS = { endStream: false } as const;

/** The connection holder of one backend address. */
export class Backend {
  /** host:port of the TEI gRPC server. */
  readonly address: string;
  private readonly authority: string;
  private readonly host: string;
  private readonly port: number;
  private readonly opts: Required<BackendPoolOptions>;
  private readonly log: Logger;
  private session: ClientHttp2Session | null = null;
  private closed = false;

  /** Use BackendPool.forReplica() instead. */
  constructor(address: string, opts: Required<BackendPoolOptions>, log: Logger) {
    this.address = address;
    this.authority = `http://${address}`;
    const i = address.lastIndexOf(":");
    this.host = address.slice(0, i).replace(/^\[(.*)\]$/, "$1");
    this.port = Number(address.slice(i + 1));
    this.opts = opts;
    this.log = log;
  }

  /** Opens a stream to the backend, connecting first when there is no usable connection. */
  request(headers: OutgoingHttpHeaders): ClientHttp2Stream {
    let s = this.session;
    if (s === null || s.closed || s.destroyed) s = this.connect();
    return s.request(headers, REQUEST_OPTIONS);
  }

  /** True while a connection is open or being opened. */
  get connected(): boolean {
    return this.session !== null && !this.session.closed && !this.session.destroyed;
  }

  /** Closes the connection gracefully (open streams finish) and refuses to reconnect. */
  close(): void {
    this.closed = true;
    this.session?.close();
    this.session = null;
  }

  /** Tears the connection down at once (shutdown after the grace period). */
  destroy(): void {
    this.closed = true;
    this.session?.destroy();
    this.session = null;
  }

  private connect(): ClientHttp2Session {
    if (this.closed) throw new Error(`backend ${this.address} was removed from the route table`);
    const s = connect(this.authority, {
      settings: { enablePush: false, initialWindowSize: this.opts.streamWindowBytes },
      maxSessionMemory: 64,
      // Small requests and responses: send each as soon as it is written (no Nagle delay).
      createConnection: () => netConnect({ host: this.host, port: this.port, noDelay: true }),
    });
    this.session = s;
    const timer = setTimeout(() => {
      if (!s.connecting) return;
      this.log.warn({ backend: this.address }, "backend connect timed out");
      s.destroy(new Error(`connect to ${this.address} timed out`), h2.NGHTTP2_CANCEL);
    }, this.opts.connectTimeoutMs);
    timer.unref();
    s.once("connect", () => {
      clearTimeout(timer);
      s.setLocalWindowSize(this.opts.connectionWindowBytes);
    });
    const forget = (): void => {
      clearTimeout(timer);
      if (this.session === s) this.session = null;
    };
    s.on("error", (err) => {
      this.log.debug({ backend: this.address, err: err.message }, "backend connection error");
      forget();
    });
    s.on("goaway", forget);
    s.on("close", forget);
    return s;
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
      streamWindowBytes: opts.streamWindowBytes ?? 4 << 20,
      connectionWindowBytes: opts.connectionWindowBytes ?? 32 << 20,
    };
  }

  /** The backend of a replica, created on first use and cached on the replica. */
  forReplica(r: Replica): Backend {
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

  /** Number of backends with an open (or opening) connection. */
  get openConnections(): number {
    let n = 0;
    for (const b of this.backends.values()) if (b.connected) n++;
    return n;
  }

  /** Closes every connection; `hard` destroys instead of draining. */
  closeAll(hard = false): void {
    for (const b of this.backends.values()) (hard ? b.destroy() : b.close());
    this.backends.clear();
  }
}
