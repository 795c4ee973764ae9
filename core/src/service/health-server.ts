import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { formatHostPort } from "../host-port.ts";
import { type HealthOptions, healthEndpoints } from "./health-checks.ts";

/**
 * A small HTTP/1.1 server for `/healthz`, `/readyz` and `/metrics`, for a service that has no
 * HTTP server of its own (the router's data path is HTTP/2 on raw sockets). Kept on its own port
 * so scrapes and probes never compete with the data path.
 */

/** Options of {@link startHealthServer}: where to listen, plus the checks and registry. */
export interface HealthServerOptions extends HealthOptions {
  /** Default `0.0.0.0`. */
  host?: string;
  /** 0 picks a free port (see {@link HealthServer.port}). */
  port: number;
}

/** A listening health server. */
export interface HealthServer {
  /** The bound port. */
  readonly port: number;
  /** e.g. `http://127.0.0.1:9091` (the bound host as given). */
  readonly url: string;
  /** The node:http server (for tests and `address()`). */
  readonly server: Server;
  /** Stops listening and closes idle keep-alive connections (Prometheus keeps one open). */
  close(): Promise<void>;
}

/**
 * Starts the server; resolves once it listens, rejects when it cannot (port taken). Anything but
 * GET is 405, an unknown path 404, both with a JSON error body.
 */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const routes = new Map(healthEndpoints(options).map((e) => [e.path as string, e]));
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] as string;
    const endpoint = routes.get(path);
    const refuse = (statusCode: number, error: string, headers: Record<string, string> = {}) =>
      res.writeHead(statusCode, { "content-type": "application/json; charset=utf-8", ...headers }).end(JSON.stringify({ error }));
    if (!endpoint) return refuse(404, `no route ${path}; try ${[...routes.keys()].join(", ")}`);
    if (req.method !== "GET" && req.method !== "HEAD") return refuse(405, `${req.method} is not allowed`, { allow: "GET, HEAD" });
    endpoint.answer().then(
      (answer) => res.writeHead(answer.statusCode, { "content-type": answer.contentType }).end(req.method === "HEAD" ? undefined : answer.body),
      (error: Error) => refuse(500, error.message),
    );
  });
  const host = options.host ?? "0.0.0.0";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${formatHostPort({ host, port })}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
