/**
 * The router's HTTP/1.1 side port: Prometheus `/metrics`, `/healthz` (the process is alive) and
 * `/readyz` (a route table has been loaded), kept off the gRPC port so scrapes never compete
 * with the data path's HTTP/2 connections.
 */
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";
import type { TableInfo } from "./metrics/router-metrics.ts";
import { NO_TABLE_YET } from "./routing/route-table.ts";

/** Starts the metrics server; resolves once it listens. */
export function startMetricsServer(host: string, port: number, registry: Registry, table: TableInfo): Promise<Server> {
  const server = createServer((req, res) => {
    const url = req.url ?? "/";
    if (req.method !== "GET") {
      res.writeHead(405, { allow: "GET" }).end();
    } else if (url === "/metrics") {
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else if (url === "/healthz" || url === "/readyz") {
      const ready = table.updatedAt !== 0;
      const body = JSON.stringify({
        status: ready ? "ok" : NO_TABLE_YET,
        tableVersion: String(table.version),
        replicas: table.size,
        tableAgeSeconds: ready ? (Date.now() - table.updatedAt) / 1000 : null,
      });
      res.writeHead(url === "/readyz" && !ready ? 503 : 200, { "content-type": "application/json" }).end(body);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}
