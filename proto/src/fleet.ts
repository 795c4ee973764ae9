/**
 * TEI Fleet's own API (package tei_fleet.v1): instances, nodes, the agent protocol, the route
 * table and the watch protocol it is streamed with. One entry point so that services import
 * `@tei-fleet/proto/fleet/v1`.
 */

export * from "./gen/tei_fleet/v1/admission_pb.ts";
export * from "./gen/tei_fleet/v1/agent_service_pb.ts";
export * from "./gen/tei_fleet/v1/api_key_pb.ts";
export * from "./gen/tei_fleet/v1/catalog_pb.ts";
export * from "./gen/tei_fleet/v1/event_pb.ts";
export * from "./gen/tei_fleet/v1/instance_pb.ts";
export * from "./gen/tei_fleet/v1/instance_service_pb.ts";
export * from "./gen/tei_fleet/v1/node_pb.ts";
export * from "./gen/tei_fleet/v1/node_service_pb.ts";
export * from "./gen/tei_fleet/v1/route_pb.ts";
export * from "./gen/tei_fleet/v1/route_service_pb.ts";
export * from "./gen/tei_fleet/v1/watch_pb.ts";
