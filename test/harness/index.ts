/**
 * The whole-system harness: real redis-server, control plane, node agents with the fake TEI, and
 * routers as child processes, plus real gRPC clients.
 */

export { freePort } from "./free-port.ts";
export { byInstance, byModel, createTeiClients, type TeiClients } from "./grpc-clients.ts";
export { type FleetAgent, type FleetRouter, type LocalFleet, type LocalFleetOptions, paths, startLocalFleet, waitFor } from "./local-fleet.ts";
export type { RedisServerOptions } from "./redis-server.ts";
export { type RedisServer, startRedisServer } from "./redis-server.ts";
export { type ServiceProcess, startServiceProcess } from "./service-process.ts";
export { startTraffic, type Traffic, type TrafficReport } from "./traffic.ts";
