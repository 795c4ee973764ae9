/**
 * The whole-system harness: real redis-server, control plane, node agents with the fake TEI, and
 * routers as child processes, plus real gRPC clients.
 */
export { startLocalFleet, waitFor, paths, type LocalFleet, type LocalFleetOptions, type FleetAgent, type FleetRouter } from "./local-fleet.ts";
export { startRedisServer, type RedisServer } from "./redis-server.ts";
export { startServiceProcess, type ServiceProcess } from "./service-process.ts";
export { createTeiClients, byInstance, byModel, type TeiClients } from "./grpc-clients.ts";
export { freePort } from "./free-port.ts";
export { startTraffic, type Traffic, type TrafficReport } from "./traffic.ts";
export type { RedisServerOptions } from "./redis-server.ts";
