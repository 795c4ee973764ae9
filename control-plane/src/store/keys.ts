/**
 * The Redis key schema of TEI Fleet: the one module that names every key. Nothing else builds key
 * strings. Every key starts with the configured prefix (default `tf`), so tests isolate themselves
 * with a random prefix on one shared redis-server.
 *
 * Values that hold a protobuf message are stored as its proto JSON (`toJsonString` /
 * `fromJsonString` of @bufbuild/protobuf), so their shape is the shape of proto/tei_fleet/v1.
 *
 * | key                              | type   | holds                                                        |
 * |----------------------------------|--------|--------------------------------------------------------------|
 * | instances                        | ZSET   | instance names, scored by creation time (ms)                 |
 * | instance:{name}                  | STRING | `Instance` JSON without replicas (spec, revision, created_at)|
 * | replicas:{name}                  | HASH   | assignment id → `Replica` JSON (placement + last status)     |
 * | idempotency:{key}                | STRING | instance name a create with this Idempotency-Key made (24 h) |
 * | nodes                            | ZSET   | node names, scored by last heartbeat time (ms)               |
 * | node:{name}                      | STRING | `Node` JSON (inventory, labels, epoch, cordon/drain, state)  |
 * | node-claims:{node}               | HASH   | `gpu:{index}` → MiB claimed, `port:{n}` → assignment id,     |
 * |                                  |        | `count` → processes claimed, `a:{assignment}` → the claim     |
 * |                                  |        | record "mb|gpu,gpu|port|prom"; changed only by Lua scripts    |
 * | assignments:{node}               | HASH   | assignment id → `Assignment` JSON the node must run          |
 * | assignments-version:{node}       | STRING | counter, bumped with every change of assignments:{node}; a   |
 * |                                  |        | new node's starts at its registration time (ms)              |
 * | routes                           | HASH   | assignment id → `Route` JSON (running and healthy only)      |
 * | routes-unready                   | HASH   | instance name → `UnreadyInstance` JSON: instances without a  |
 * |                                  |        | route, and why (written by routes/unready-sync.ts)           |
 * | routes-version                   | STRING | counter: one step per change of routes or routes-unready     |
 * | routes-log                       | STREAM | the route table's change log: id "<version>-0", fields c     |
 * |                                  |        | (route, unreadyInstance) and k (the key), MAXLEN ~ 10000      |
 * |                                  |        | (watch/lua/change-log.lua)                                    |
 * | routes-epoch                     | STRING | the history routes-version counts in (watch.proto)           |
 * | catalog-aliases                  | HASH   | alias name → `CatalogAlias` JSON (a collection of the route  |
 * |                                  |        | table's watched set, logged as catalogAlias)                 |
 * | catalog-models                   | HASH   | model id → `CatalogModel` JSON (catalogModel)                |
 * | catalog-backends                 | HASH   | backend name → `CatalogBackend` JSON, upstream key included  |
 * |                                  |        | (catalogBackend; the API strips the key)                     |
 * | catalog-index:{collection}       | ZSET   | the keys of one catalog hash, score 0, for paged lists       |
 * | catalog-alias-graph              | STRING | counter bumped by every alias write: alias writes check it,  |
 * |                                  |        | so two writes cannot make a cycle together                   |
 * | catalog-probe-lock               | STRING | holder of this round of backend probes (SET NX PX)           |
 * | api-keys                         | HASH   | key id → `ApiKey` JSON (the API's view; no hash, no secret)  |
 * | api-keys-router                  | HASH   | key id → `RouterApiKey` JSON (hashes, limits; collection     |
 * |                                  |        | apiKey of the route table's watched set); revoked: removed   |
 * | ejection-reports:{assignment}    | ZSET   | router id → ms of its latest failure report (expires)        |
 * | share-routers                    | ZSET   | router id → ms of its latest demand report (members older    |
 * |                                  |        | than the share TTL are trimmed; the key expires with them)   |
 * | share-report:{router}            | STRING | JSON of the router's smoothed demand per key limit id and its |
 * |                                  |        | router count, PX the share TTL (admission/share-store.ts)     |
 * | usage:{key id}                   | HASH   | `model|requests`, `model|inputs`, `model|tokens`,             |
 * |                                  |        | `model|refused:{reason}` → the key's usage, all time          |
 * | usage-hour:{key id}:{hour}       | HASH   | the same fields for one hour (epoch hours), 35-day TTL        |
 * | usage-keys                       | ZSET   | key ids with usage → ms of their latest report               |
 * | usage-seq:{router}               | STRING | the router's last counted usage report sequence (1 day TTL)   |
 * | changes                          | PUBSUB | channel nudging every control-plane replica: "routes",        |
 * |                                  |        | "assignments:{node}", "event", "node:{name}" (node record),   |
 * |                                  |        | "instance:{name}" (created or deleted)                        |
 * | pending                          | SET    | instances with a replica that fits nowhere yet               |
 * | retiring:{name}                  | HASH   | assignment id → ms its route was removed before it stops      |
 * | drain:{node}                     | HASH   | `max_parallel`, `deadline_ms`, `started_ms`, `move:{id}` → 1  |
 * | reschedules:{name}               | HASH   | `failing:{id}` → ms the replica began failing (failed or      |
 * |                                  |        | crash_loop, restarts included, not running since);            |
 * |                                  |        | `moved:{id}` → JSON of its reschedule (at, index, revision,   |
 * |                                  |        | from, to), kept one reschedule interval; `note:{index}` → the |
 * |                                  |        | last "cannot move" message announced                          |
 * | record-problem:{name}:{digest}   | STRING | set (NX, 24 h) by the first process to report that the       |
 * |                                  |        | instance's record, with this content digest, is unreadable   |
 * |                                  |        | or repaired on read: one log line and one event fleet-wide   |
 * | workers                          | ZSET   | placement worker ids, scored by last sign of life (ms)        |
 * | events                           | STREAM | `Event` fields, MAXLEN ~ 10000                                |
 * | lease:{name}                     | STRING | holder id, with PX; lease-token:{name} is its fencing counter |
 * | lease-token:{name}               | STRING | counter incremented on every acquisition                      |
 * | admin-token-hash                 | STRING | sha256 of the generated admin token                           |
 * | bull (BullMQ prefix)             | —      | BullMQ's own keys for the placement queue                     |
 *
 * Deleting a node (DELETE /nodes/:name, or the lost-node retention) removes node:, node-claims:,
 * assignments:, assignments-version:, drain: and its `nodes` entry in one script (node-delete).
 */
export interface KeySchema {
  readonly prefix: string;
  instances(): string;
  instance(name: string): string;
  replicas(instance: string): string;
  idempotency(key: string): string;
  nodes(): string;
  node(name: string): string;
  nodeClaims(node: string): string;
  assignments(node: string): string;
  assignmentsVersion(node: string): string;
  routes(): string;
  /** Instances without a route, and why: the route table's second collection. */
  routesUnready(): string;
  routesVersion(): string;
  /** The route table's change log (watch/lua/change-log.lua). */
  routesLog(): string;
  /** The history routes-version counts in. */
  routesEpoch(): string;
  /** Catalog aliases (catalog/collections/catalog-collections.ts). */
  catalogAliases(): string;
  /** Catalog model switches. */
  catalogModels(): string;
  /** Remote backends, with their upstream keys. */
  catalogBackends(): string;
  /** The sorted keys of one catalog hash (or of api-keys), for paged lists. */
  catalogIndex(collection: string): string;
  /** Counter every alias write checks and bumps (the cycle check's guard). */
  catalogAliasGraph(): string;
  /** Who probes remote backends this round. */
  catalogProbeLock(): string;
  /** API keys as the API shows them. */
  apiKeys(): string;
  /** API keys as routers check them (watched). */
  apiKeysRouter(): string;
  /** Routers that recently reported the replica failing (see route-table.ts, quorum). */
  ejectionReports(assignmentId: string): string;
  /** Routers that reported demand recently, for the shares of the keys' rate limits (admission/). */
  shareRouters(): string;
  /** One router's latest (smoothed) demand report. */
  shareReport(router: string): string;
  /** One key's usage, all time (usage/usage-store.ts). */
  usage(keyId: string): string;
  /** One key's usage in one hour (epoch hours). */
  usageHour(keyId: string, hour: number): string;
  /** Key ids with usage, by their latest report. */
  usageKeys(): string;
  /** One router's last counted usage report. */
  usageSeq(router: string): string;
  changesChannel(): string;
  events(): string;
  lease(name: string): string;
  leaseToken(name: string): string;
  adminTokenHash(): string;
  /** Instances with at least one replica that could not be placed; re-enqueued when capacity appears. */
  pending(): string;
  /** Replicas of an instance whose route is gone and which stop after the router grace period. */
  retiring(instance: string): string;
  /** Progress of a node drain: its parameters and the replicas allowed to move now. */
  drain(node: string): string;
  /** Failure clocks and recent reschedules of an instance's replicas (see reschedule-policy.ts). */
  reschedules(instance: string): string;
  /** Live placement workers, so that each prefers its own share of the nodes. */
  workers(): string;
  /** Marks a stored record problem as reported (see record-problems.ts). */
  recordProblem(instance: string, digest: string): string;
  /** The `prefix` option for BullMQ queues and workers. */
  bullPrefix(): string;
}

/** Builds the key schema for one prefix. */
export function createKeySchema(prefix = "tf"): KeySchema {
  const k = (...parts: string[]) => [prefix, ...parts].join(":");
  return {
    prefix,
    instances: () => k("instances"),
    instance: (name) => k("instance", name),
    replicas: (instance) => k("replicas", instance),
    idempotency: (key) => k("idempotency", key),
    nodes: () => k("nodes"),
    node: (name) => k("node", name),
    nodeClaims: (node) => k("node-claims", node),
    assignments: (node) => k("assignments", node),
    assignmentsVersion: (node) => k("assignments-version", node),
    routes: () => k("routes"),
    routesUnready: () => k("routes-unready"),
    routesVersion: () => k("routes-version"),
    routesLog: () => k("routes-log"),
    routesEpoch: () => k("routes-epoch"),
    catalogAliases: () => k("catalog-aliases"),
    catalogModels: () => k("catalog-models"),
    catalogBackends: () => k("catalog-backends"),
    catalogIndex: (collection) => k("catalog-index", collection),
    catalogAliasGraph: () => k("catalog-alias-graph"),
    catalogProbeLock: () => k("catalog-probe-lock"),
    apiKeys: () => k("api-keys"),
    apiKeysRouter: () => k("api-keys-router"),
    ejectionReports: (assignmentId) => k("ejection-reports", assignmentId),
    shareRouters: () => k("share-routers"),
    shareReport: (router) => k("share-report", router),
    usage: (keyId) => k("usage", keyId),
    usageHour: (keyId, hour) => k("usage-hour", keyId, String(hour)),
    usageKeys: () => k("usage-keys"),
    usageSeq: (router) => k("usage-seq", router),
    changesChannel: () => k("changes"),
    events: () => k("events"),
    lease: (name) => k("lease", name),
    leaseToken: (name) => k("lease-token", name),
    adminTokenHash: () => k("admin-token-hash"),
    pending: () => k("pending"),
    retiring: (instance) => k("retiring", instance),
    drain: (node) => k("drain", node),
    reschedules: (instance) => k("reschedules", instance),
    workers: () => k("workers"),
    recordProblem: (instance, digest) => k("record-problem", instance, digest),
    bullPrefix: () => k("bull"),
  };
}
