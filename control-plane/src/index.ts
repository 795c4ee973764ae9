/**
 * The control plane's public entry: start one in-process (tests, harnesses) or through
 * `tei-control-plane` (main.ts).
 */
export { startControlPlane, type ControlPlane, type ControlPlaneOptions } from "./server/control-plane.ts";
export { loadConfig, type Config, type CliFlags } from "./config.ts";
export { createKeySchema, type KeySchema } from "./store/keys.ts";
export { appendEvent, type EventKind, type FleetEventInput } from "./store/event-log.ts";
export { ERROR_CATALOGUE, type ApiErrorCode, type ErrorBody } from "./errors/api-error.ts";
