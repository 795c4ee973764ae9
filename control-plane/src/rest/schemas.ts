import { INSTANCE_STATUSES } from "@tei-fleet/core";
import { z } from "zod";
import { CreateInstanceBody, UpdateInstanceBody } from "../instances/instance-spec.ts";

/**
 * Zod schemas of the REST responses. They are the source of the OpenAPI document (converted with
 * z.toJSONSchema), and the conformance tests parse real responses with them, so the document
 * cannot drift from what the API returns. Request bodies reuse the validation schemas themselves.
 */
const ts = z.string().nullable().describe("RFC 3339 time");

export const ErrorSchema = z.object({
  error: z.string().describe("What went wrong, naming the field or header at fault"),
  code: z.string().describe("Stable error code, e.g. INSTANCE_NOT_FOUND"),
  field: z.string().optional().describe("The request field or header at fault"),
  timestamp: z.string(),
});

export const ModelFactsSchema = z.object({
  model_type: z.string(),
  dimension: z.number().nullable(),
  max_input_length: z.number(),
  dtype: z.string(),
  version: z.string(),
});

export const ReplicaViewSchema = z.strictObject({
  assignment_id: z.string(),
  index: z.number(),
  revision: z.number(),
  node: z.string(),
  address: z.string(),
  port: z.number(),
  prometheus_port: z.number(),
  gpu_ids: z.array(z.number()),
  gpu_uuids: z.array(z.string()),
  status: z.string(),
  reason: z.string(),
  pid: z.number().nullable(),
  started_at: ts,
  restarts: z.number(),
  health_check_failures: z.number(),
  last_health_check: ts,
  exit_code: z.number().nullable(),
  model: ModelFactsSchema.nullable(),
});

const STATUS = z.enum(INSTANCE_STATUSES).describe("unreadable: the stored record cannot be decoded (reason says why); DELETE removes it");

export const InstanceViewSchema = z.strictObject({
  name: z.string(),
  model_id: z.string(),
  port: z.number().nullable().describe("TEI's gRPC port (allocated on the node when not given)"),
  status: STATUS,
  reason: z.string(),
  pid: z.number().nullable(),
  created_at: ts,
  uptime_secs: z.number().nullable(),
  restarts: z.number(),
  health_check_failures: z.number(),
  last_health_check: ts,
  gpu_id: z.number().nullable(),
  prometheus_port: z.number().nullable(),
  max_batch_tokens: z.number().nullable(),
  max_concurrent_requests: z.number().nullable(),
  pooling: z.string().nullable(),
  extra_args: z.array(z.string()),
  desired_state: z.string(),
  node: z.string().nullable(),
  address: z.string().nullable().describe("host:port of TEI's gRPC server"),
  gpu_ids: z.array(z.number()),
  gpu_uuids: z.array(z.string()),
  healthy: z.boolean(),
  revision: z.number().describe("Increases on every spec change; send it back in If-Match"),
  replicas: z.array(ReplicaViewSchema),
  spec: z.record(z.string(), z.unknown()).describe("The full spec, as accepted by POST and PATCH"),
});

export const InstanceHealthSchema = z.object({
  instance: z.string(),
  healthy: z.boolean(),
  status: z.string(),
  last_check: ts,
  consecutive_failures: z.number(),
  uptime_seconds: z.number(),
  error: z.string().optional(),
});

export const FleetHealthSchema = z.strictObject({
  timestamp: z.string(),
  total_instances: z.number(),
  healthy_count: z.number(),
  unhealthy_count: z.number(),
  stopped_count: z.number().describe("Instances stopped by request: listed, not counted as unhealthy"),
  overall_status: z.enum(["healthy", "degraded", "critical", "down"]),
  instances: z.array(InstanceHealthSchema),
});

export const RequestMetricsSchema = z.object({
  total_requests: z.number(),
  successful_requests: z.number(),
  failed_requests: z.number(),
  avg_latency_ms: z.number().nullable(),
  error_rate: z.number().nullable(),
  replicas_scraped: z.number(),
  replicas_running: z.number(),
});

export const InstanceInfoSchema = z.strictObject({
  name: z.string(),
  model_id: z.string(),
  port: z.number().nullable(),
  prometheus_port: z.number().nullable(),
  gpu_id: z.number().nullable(),
  status: z.string(),
  pid: z.number().nullable(),
  uptime_seconds: z.number(),
  created_at: ts,
  node: z.string().nullable(),
  address: z.string().nullable(),
  revision: z.number(),
  replicas: z.number(),
  health: z.object({ healthy: z.boolean(), last_check: ts, consecutive_failures: z.number(), error: z.string().optional() }),
  config: z.object({
    max_batch_tokens: z.number().nullable(),
    max_concurrent_requests: z.number().nullable(),
    pooling: z.string().nullable(),
    extra_args: z.array(z.string()),
    startup_timeout_secs: z.number().nullable(),
  }),
  model: ModelFactsSchema.nullable(),
  metrics: RequestMetricsSchema.nullable(),
  metrics_error: z.string().optional(),
});

export const LogsSchema = z.strictObject({
  instance: z.string(),
  replica: z.number(),
  node: z.string(),
  source: z.enum(["agent", "heartbeat"]),
  lines: z.array(z.string()),
});

export const EventSchema = z.strictObject({
  id: z.string().describe("Stream id; pass as `after` to continue"),
  time: z.string(),
  time_ms: z.number(),
  kind: z.string(),
  instance: z.string().nullable(),
  node: z.string().nullable(),
  message: z.string(),
});

export const EventPageSchema = z.strictObject({ events: z.array(EventSchema), next_cursor: z.string() });

export const HealthSchema = z.object({ status: z.literal("healthy"), timestamp: z.string() });
/** The body of `/healthz` and `/readyz` (the service kit's, the same on every service). */
export const ProbeSchema = z.looseObject({ status: z.enum(["ok", "unavailable"]), error: z.string().optional().describe("why not, when unavailable") });

export const NameParams = z.object({ name: z.string().describe("Instance name") });
export const LogsQuery = z.object({
  tail: z.coerce.number().int().min(1).max(10_000).default(100).describe("Lines from the end (1-10000, default 100)"),
  replica: z.coerce.number().int().min(0).max(63).optional().describe("Replica index (default: a running one)"),
});
export const EventsQuery = z.object({
  after: z.string().default("").describe("Cursor: id of the last event seen; empty for the oldest kept"),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe("Events per page (1-1000, default 100)"),
});

export { CreateInstanceBody, UpdateInstanceBody };

/** JSON Schema (2020-12, as OpenAPI 3.1 uses) of a zod schema, for Fastify route schemas. */
export function jsonSchema(schema: z.ZodType, io: "input" | "output" = "output"): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

/** Route schema fragments shared by the routes: errors for the usual statuses. */
export function errorResponses(...statuses: number[]): Record<number, Record<string, unknown>> {
  const error = jsonSchema(ErrorSchema);
  return Object.fromEntries(statuses.map((s) => [s, { ...error, description: "Error" }]));
}
