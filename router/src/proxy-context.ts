/**
 * What every proxied call needs from the router process: the route table, the backend
 * connections, outlier detection, metrics, the logger and the message size limit.
 */
import type { Logger } from "pino";
import type { BackendPool } from "./backend-pool.ts";
import type { RouterMetrics } from "./metrics.ts";
import type { OutlierDetector } from "./outlier-detector.ts";
import type { RouteTable } from "./route-table.ts";

/** Shared, long-lived parts of the router, passed to each call. */
export interface ProxyContext {
  readonly table: RouteTable;
  readonly pool: BackendPool;
  readonly outliers: OutlierDetector;
  readonly metrics: RouterMetrics;
  readonly log: Logger;
  /** Largest request message accepted, in bytes (gRPC's and TEI's default is 4 MiB). */
  readonly maxMessageBytes: number;
}
