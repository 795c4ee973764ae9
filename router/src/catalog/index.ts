/**
 * The model catalog on the router (router/src/catalog/): the copy of the control plane's
 * aliases, model switches and remote backends fed from the route watch, and the gateway's
 * resolver that applies them.
 */
export { createCatalogFeed, type FeedCounts, type WatchApplied } from "./catalog-feed.ts";
export { CatalogModelResolver, MAX_ALIAS_STEPS, modelDisabled } from "./catalog-resolver.ts";
export { type CatalogRemote, CatalogView, DEFAULT_REMOTE_TIMEOUT_MS, remoteOf } from "./catalog-view.ts";
export { type CatalogSteps, createCatalogSteps } from "./grpc-catalog-steps.ts";
export { SmoothWeighted } from "./smooth-weighted.ts";
