/**
 * Public entry of @tei-fleet/router: create a router from a configuration, plus the pieces the
 * benchmark and whole-system tests need. Internals (proxying, framing, scanning) stay internal.
 */
export { createRouter, type Router, type RouterDeps } from "./server.ts";
export { parseRouterConfig, RouterConfigSchema, type RouterConfig, type RouterConfigInput } from "./config.ts";
export { RoutesFileSchema, loadRoutesFile, type StaticTable } from "./routes-file.ts";
export type { RouteInput, Replica, RouteTable, UnreadyInput } from "./route-table.ts";
export { TARGET_HEADERS } from "./target.ts";
