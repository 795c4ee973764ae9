/**
 * Public entry of @tei-fleet/router: create a router from a configuration, and the parts another
 * front (the HTTP gateway) builds on, so that it routes, balances, retries and ejects exactly as
 * the gRPC router does:
 *
 * - the route table and its {@link Balancer} (round-robin today), fed with routes;
 * - the backend pool (one HTTP/2 connection per TEI backend) and the outlier detector;
 * - {@link BackendAttempt}: one call against a target on a backend, with its retry and the
 *   outlier reports, apart from any client stream;
 * - the admission chain: its types, its runner and the steps of the gRPC front, and the fleet's
 *   own steps (API keys, rate limits, the fair queue) that both fronts share.
 *
 * The HTTP/2 layer, gRPC framing and protobuf scanning stay internal.
 */

// Admission.
export { type Admission, type AdmissionCall, type AdmissionStep, admissionCall, endCall, onCallEnd, runAdmission } from "./admission/admission.ts";
// The fleet's admission: API keys, per-key rate limits at this router's share, the fair queue.
export { type AdmissionClock, SYSTEM_CLOCK } from "./admission/admission-clock.ts";
export { type ApiKeyView, DEFAULT_KEY_LIMITS, hashApiKey, type KeyLimits } from "./admission/api-key-view.ts";
export { ApiKeysFileSchema, loadApiKeysFile } from "./admission/api-keys-file.ts";
export { createFleetAdmission, type FleetAdmission, type FleetAdmissionOptions } from "./admission/fleet-admission.ts";
export { GRPC_CALL_STEPS, GRPC_REQUEST_STEPS } from "./admission/grpc-chain.ts";
export { KeyTable } from "./admission/key-table.ts";
export type { DemandReport, KeyDemand, RateShareSource, ShareGrant } from "./admission/rate-share-source.ts";
export { apiKeyViews, WatchedKeys } from "./admission/watched-keys.ts";
// Backends and the attempt against one.
export { Backend, type BackendHolder, BackendPool, type BackendPoolOptions } from "./backends/backend-pool.ts";
// The model catalog (aliases, switches, remote backends) as the gateway resolves names with it.
export { CatalogModelResolver, CatalogView, createCatalogFeed, MAX_ALIAS_STEPS, SmoothWeighted } from "./catalog/index.ts";
export { parseRouterConfig, type RouterConfig, type RouterConfigInput, RouterConfigSchema } from "./config.ts";
// The HTTP gateway (TEI's HTTP API, OpenAI, rerank) and the seam the model catalog plugs into.
export { GatewayError } from "./gateway/gateway-error.ts";
export { type ModelEntry, type ModelResolver, type ResolvedModel, RouteTableModelResolver } from "./gateway/model-resolver.ts";
export { createGateway, type Gateway, type GatewayDeps, type GatewayOptions } from "./gateway/server/gateway-server.ts";
export { GrpcStatus, type GrpcStatusCode, RouterError } from "./grpc/grpc-status.ts";
export { RouterMetrics } from "./metrics/router-metrics.ts";
export type { AttemptContext, AttemptListener, CallAccount } from "./proxy/attempt-contract.ts";
export { BackendAttempt } from "./proxy/backend-attempt.ts";
export type { Balancer, ReplicaGroup } from "./routing/balancer.ts";
export { OutlierDetector, type OutlierOptions } from "./routing/outlier-detector.ts";
export { isReady, type Replica, type RouteInput } from "./routing/replica.ts";
export { RoundRobinBalancer } from "./routing/round-robin-balancer.ts";
// The route table, its replicas and their sources.
export { NO_TABLE_YET, RouteTable, type TableDiff, type UnreadyInput } from "./routing/route-table.ts";
export { loadRoutesFile, RoutesFileSchema, type StaticTable } from "./routing/routes-file.ts";
export { createRouter, type Router, type RouterDeps } from "./server.ts";
// What calls are: methods, targets, statuses.
export { type CallKind, METHODS, type MethodSpec } from "./tei/method-table.ts";
export { describeTarget, TARGET_HEADERS, type Target, targetFromHeaders } from "./tei/target.ts";
