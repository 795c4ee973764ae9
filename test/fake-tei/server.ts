/**
 * The gRPC listener: cleartext HTTP/2 (h2c) on --hostname:--port serving tei.v1.* and
 * grpc.health.v1.Health through Connect's node adapter (gRPC, and also Connect and gRPC-web).
 * --api-key guards every tei.v1 service with `authorization: Bearer K`, never health.
 * Graceful shutdown is TEI's: stop accepting, let in-flight calls finish however long they take.
 */
import { createServer, type Http2Server, type ServerHttp2Session } from "node:http2";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

/** tonic's default receive limit, which TEI does not change (tei.md §1.6). */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** Options of the gRPC listener. */
export interface GrpcServerOptions {
  /** Registers the services on the router. */
  routes: (router: ConnectRouter) => void;
  /** --api-key; undefined leaves tei.v1 open. */
  apiKey?: string;
}

/** TEI's tonic interceptor on every tei.v1 service: exact `Bearer <key>` match. */
function apiKeyInterceptor(apiKey: string): Interceptor {
  const expected = `Bearer ${apiKey}`;
  return (next) => async (req) => {
    if (req.service.typeName.startsWith("tei.v1.") && req.header.get("authorization") !== expected) {
      throw new ConnectError("No valid auth token", Code.Unauthenticated);
    }
    return next(req);
  };
}

/** A listening gRPC server plus its graceful shutdown. */
export interface GrpcServer {
  server: Http2Server;
  /** Stops accepting, sends GOAWAY, resolves when every in-flight call has finished. */
  shutdown(): Promise<void>;
}

/** Creates the h2c server (not yet listening). */
export function createGrpcServer(options: GrpcServerOptions): GrpcServer {
  const handler = connectNodeAdapter({
    routes: options.routes,
    interceptors: options.apiKey === undefined ? [] : [apiKeyInterceptor(options.apiKey)],
    readMaxBytes: MAX_REQUEST_BYTES,
    acceptCompression: [], // TEI enables no compression encodings
  });
  // Node's default 10 MB of buffered data per session rejects streams under benchmark load
  // (ENHANCE_YOUR_CALM); TEI's hyper server has no such limit worth emulating.
  const server = createServer({ maxSessionMemory: 256 }, handler);
  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  return {
    server,
    shutdown: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // close() lets open streams finish, then ends the session; new streams are refused.
        for (const session of sessions) session.close();
      }),
  };
}

/** Listens on host:port; rejects with the listen error (e.g. EADDRINUSE). */
export function listen(server: Http2Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
