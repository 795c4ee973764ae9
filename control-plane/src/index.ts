/**
 * The control plane's public entry: start one in-process (tests, harnesses) or through
 * `tei-control-plane` (main.ts).
 */

export { type CliFlags, type Config, loadConfig } from "./config.ts";
export type { ErrorBody } from "./errors/error-body.ts";
export { type ApiErrorCode, ERROR_CATALOGUE } from "./errors/error-catalogue.ts";
export { type ControlPlane, type ControlPlaneOptions, startControlPlane } from "./server/control-plane.ts";
export { appendEvent, type EventKind, type FleetEventInput } from "./store/event-log.ts";
export { createKeySchema, type KeySchema } from "./store/keys.ts";
