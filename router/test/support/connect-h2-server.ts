/**
 * A Connect service (gRPC over h2c) on 127.0.0.1 for tests' TEI stand-ins: node:http2 with
 * connect-node's adapter, its sessions tracked so that close() ends them at once (a router's
 * pooled connection would otherwise keep the server open).
 */
import { createServer, type Http2Server, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

/** A listening stand-in. */
export interface ConnectH2Server {
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  /** Ends every session and stops listening. */
  close(): Promise<void>;
}

/** Serves `routes` on a free port (or `port`). */
export async function startConnectH2Server(routes: (router: ConnectRouter) => void, port = 0): Promise<ConnectH2Server> {
  const server: Http2Server = createServer(connectNodeAdapter({ routes }));
  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    address: `127.0.0.1:${bound}`,
    async close() {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
