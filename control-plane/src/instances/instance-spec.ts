import { clone, create } from "@bufbuild/protobuf";
import { findExtraArgsProblem, instanceNameProblem, NODE_NAME_PATTERN, NODE_NAME_RULE } from "@tei-fleet/core";
import { type InstanceSpec, InstanceSpecSchema } from "@tei-fleet/proto/fleet/v1";
import { z } from "zod";
import { ApiError, type ApiErrorCode } from "../errors/api-error.ts";

/**
 * A port the user may ask for. 0 and null mean "allocate one on the node", as 0 did in
 * tei-manager; anything else must be an unprivileged port.
 */
const portField = z
  .int()
  .refine((v) => v === 0 || (v >= 1024 && v <= 65535), "must be between 1024 and 65535 (0 or absent: allocated on the node)")
  .nullish();

const positiveInt = (max: number) => z.int().min(1, `must be between 1 and ${max}`).max(max, `must be between 1 and ${max}`);

/**
 * The body of `POST /instances`: tei-manager's CreateInstanceRequest, plus the fleet's placement
 * fields. Unknown fields are refused (a misspelt field must not be silently ignored). The same
 * schema validates Connect's InstanceSpec (converted to this shape), so both surfaces accept
 * exactly the same specs.
 */
export const CreateInstanceBody = z.strictObject({
  name: z.string().min(1, "must not be empty"),
  model_id: z
    .string()
    .min(1, "must not be empty")
    .max(512, "must be at most 512 characters")
    .refine((v) => !v.startsWith("-"), "must not start with '-' (it would be read as a TEI flag)")
    .refine((v) => !/[\s\u0000-\u001f]/.test(v), "must not contain whitespace or control characters"),
  port: portField,
  max_batch_tokens: positiveInt(4_194_304).nullish(),
  max_concurrent_requests: positiveInt(1_000_000).nullish(),
  pooling: z.enum(["cls", "mean", "splade", "last-token"]).nullish(),
  gpu_id: z.int().min(0, "must be between 0 and 255").max(255, "must be between 0 and 255").nullish(),
  prometheus_port: portField,
  extra_args: z.array(z.string().max(4096, "each argument must be at most 4096 characters")).max(64, "at most 64 arguments").nullish(),
  startup_timeout_secs: positiveInt(86_400).nullish(),
  replicas: positiveInt(64).nullish(),
  gpu_count: z.int().min(0, "must be between 0 and 16").max(16, "must be between 0 and 16").nullish(),
  gpu_memory_mb: z.int().min(0, "must be a non-negative number of MiB").max(16_777_216, "must be at most 16777216 MiB").nullish(),
  // The rule agents register under (@tei-fleet/core), so that every node that can join can be pinned.
  node: z.string().regex(NODE_NAME_PATTERN, `must be a node name: ${NODE_NAME_RULE} (case-sensitive)`).nullish(),
  node_selector: z.record(z.string().min(1).max(253), z.string().max(253)).nullish(),
  placement_policy: z.enum(["binpack", "spread"]).nullish(),
  desired_state: z.enum(["running", "stopped"]).nullish(),
});

/** A create body as validated. */
export type CreateInstanceInput = z.infer<typeof CreateInstanceBody>;

/**
 * The body of `PATCH /instances/:name`: any subset of the create fields. A field set to null goes
 * back to its default (e.g. `"port": null` lets the node allocate the port again). `name` may be
 * given only if it equals the instance's name.
 */
export const UpdateInstanceBody = CreateInstanceBody.partial().extend({ model_id: CreateInstanceBody.shape.model_id.optional() });

/** An update body as validated. */
export type UpdateInstanceInput = z.infer<typeof UpdateInstanceBody>;

/** Throws a 400 naming the field at fault, from the first issue zod found. */
export function throwValidationError(error: z.ZodError, what: string): never {
  const issue = error.issues[0];
  if (issue === undefined) throw new ApiError("VALIDATION_ERROR", `invalid ${what}`);
  if (issue.code === "unrecognized_keys") {
    const prefix = issue.path.length > 0 ? `${issue.path.join(".")}.` : "";
    const field = `${prefix}${issue.keys[0] ?? ""}`;
    throw new ApiError("VALIDATION_ERROR", `unknown field '${field}' in ${what}`, { field });
  }
  const field = issue.path.map(String).join(".");
  if (field === "") throw new ApiError("VALIDATION_ERROR", `${what} must be a JSON object`);
  const top = String(issue.path[0]);
  let code: ApiErrorCode = "VALIDATION_ERROR";
  if (issue.code === "invalid_type" && issue.input === undefined) code = "MISSING_FIELD";
  else if (top === "port" || top === "prometheus_port") code = "INVALID_PORT";
  else if (top === "gpu_id") code = "INVALID_GPU_ID";
  const message =
    code === "MISSING_FIELD"
      ? `field '${field}' is required`
      : issue.code === "invalid_type"
        ? `field '${field}' must be ${issue.expected === "int" ? "an integer" : `a ${issue.expected}`}, got ${describe(issue.input)}`
        : `field '${field}' ${issue.message.startsWith("must") ? issue.message : `is invalid: ${issue.message}`}`;
  throw new ApiError(code, message, { field });
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "number" && !Number.isInteger(value)) return `the fraction ${value}`;
  return typeof value === "string" ? `the string ${JSON.stringify(value.slice(0, 40))}` : `a ${typeof value}`;
}

/** Checks an instance name (the rule is @tei-fleet/core's); throws a 400 INVALID_INSTANCE_NAME naming `name`. */
export function validateInstanceName(name: string): void {
  const problem = instanceNameProblem(name);
  if (problem !== undefined) throw new ApiError("INVALID_INSTANCE_NAME", problem, { field: "name" });
}

/** Cross-field checks shared by create and update, on the merged spec. */
export function checkSpecConsistency(spec: InstanceSpec): void {
  // The agent applies the same rule before it starts TEI: what is accepted here, it runs.
  const problem = findExtraArgsProblem(spec.extraArgs);
  if (problem) {
    const reserved = problem.kind === "managed" || problem.kind === "exits";
    // An item that is wrong in itself is named as zod names items (`extra_args.1`); a flag is
    // wrong only in this list, for this fleet, so the list is named.
    const itemAtFault = problem.kind === "control-character" || problem.kind === "not-one-argument";
    throw new ApiError(reserved ? "MANAGED_FLAG" : "VALIDATION_ERROR", problem.message, { field: itemAtFault ? `extra_args.${problem.index}` : "extra_args" });
  }
  if (spec.port !== undefined && spec.port === spec.prometheusPort) {
    throw new ApiError("PORT_CONFLICT", `prometheus_port ${spec.port} must differ from port`, { field: "prometheus_port" });
  }
  if (spec.gpuId !== undefined && spec.gpuCount !== undefined && spec.gpuCount !== 1) {
    throw new ApiError("INVALID_GPU_ID", `gpu_id pins one GPU, but gpu_count is ${spec.gpuCount}`, { field: "gpu_id" });
  }
}

/** Copies validated REST-shaped fields onto a proto spec; null resets a field to its default. */
export function applySpecFields(target: InstanceSpec, input: UpdateInstanceInput): InstanceSpec {
  const spec = clone(InstanceSpecSchema, target);
  const opt = <T>(v: T | null | undefined, current: T | undefined): T | undefined => (v === undefined ? current : v === null ? undefined : v);
  const port = (v: number | null | undefined, current: number | undefined) => (v === 0 ? undefined : opt(v, current));
  if (input.model_id !== undefined) spec.modelId = input.model_id;
  spec.port = port(input.port, spec.port);
  spec.maxBatchTokens = opt(input.max_batch_tokens, spec.maxBatchTokens);
  spec.maxConcurrentRequests = opt(input.max_concurrent_requests, spec.maxConcurrentRequests);
  spec.pooling = opt(input.pooling, spec.pooling);
  spec.gpuId = opt(input.gpu_id, spec.gpuId);
  spec.prometheusPort = port(input.prometheus_port, spec.prometheusPort);
  if (input.extra_args !== undefined) spec.extraArgs = input.extra_args ?? [];
  spec.startupTimeoutSecs = opt(input.startup_timeout_secs, spec.startupTimeoutSecs);
  spec.replicas = opt(input.replicas, spec.replicas);
  spec.gpuCount = opt(input.gpu_count, spec.gpuCount);
  const mem = opt(input.gpu_memory_mb, spec.gpuMemoryMb === undefined ? undefined : Number(spec.gpuMemoryMb));
  spec.gpuMemoryMb = mem === undefined ? undefined : BigInt(mem);
  spec.node = opt(input.node, spec.node);
  if (input.node_selector !== undefined) spec.nodeSelector = { ...(input.node_selector ?? {}) };
  spec.placementPolicy = opt(input.placement_policy, spec.placementPolicy);
  spec.desiredState = opt(input.desired_state, spec.desiredState);
  return spec;
}

/** Validates a create body (REST JSON or converted Connect spec) and returns the proto spec. */
export function parseCreateBody(body: unknown): InstanceSpec {
  const parsed = CreateInstanceBody.safeParse(body, { reportInput: true });
  if (!parsed.success) throwValidationError(parsed.error, "the instance spec");
  validateInstanceName(parsed.data.name);
  const spec = applySpecFields(create(InstanceSpecSchema, { name: parsed.data.name }), parsed.data);
  spec.desiredState ??= "running";
  checkSpecConsistency(spec);
  return spec;
}

/** Validates an update body; returns the fields to apply. */
export function parseUpdateBody(body: unknown, name: string): UpdateInstanceInput {
  const parsed = UpdateInstanceBody.safeParse(body, { reportInput: true });
  if (!parsed.success) throwValidationError(parsed.error, "the update");
  if (parsed.data.name !== undefined && parsed.data.name !== name) {
    throw new ApiError("VALIDATION_ERROR", `an instance cannot be renamed (name '${parsed.data.name}' differs from '${name}')`, { field: "name" });
  }
  return parsed.data;
}

/** The spec in REST shape (snake_case, absent fields omitted): what GET returns as `spec`. */
export function specToJson(spec: InstanceSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { name: spec.name, model_id: spec.modelId };
  const put = (k: string, v: unknown) => {
    if (v !== undefined) out[k] = v;
  };
  put("port", spec.port);
  put("max_batch_tokens", spec.maxBatchTokens);
  put("max_concurrent_requests", spec.maxConcurrentRequests);
  put("pooling", spec.pooling);
  put("gpu_id", spec.gpuId);
  put("prometheus_port", spec.prometheusPort);
  out.extra_args = [...spec.extraArgs];
  put("startup_timeout_secs", spec.startupTimeoutSecs);
  put("replicas", spec.replicas);
  put("gpu_count", spec.gpuCount);
  put("gpu_memory_mb", spec.gpuMemoryMb === undefined ? undefined : Number(spec.gpuMemoryMb));
  put("node", spec.node);
  if (Object.keys(spec.nodeSelector).length > 0) out.node_selector = { ...spec.nodeSelector };
  put("placement_policy", spec.placementPolicy);
  out.desired_state = spec.desiredState ?? "running";
  return out;
}

/**
 * Converts a Connect InstanceSpec to the REST body shape so that it goes through the same zod
 * validation. For updates (`partial`), proto3 defaults (empty name, model_id, extra_args,
 * node_selector) mean "keep".
 */
export function protoSpecToBody(spec: InstanceSpec, partial: boolean): Record<string, unknown> {
  const body = specToJson(spec);
  if (spec.desiredState === undefined) delete body.desired_state;
  if (partial) {
    if (spec.name === "") delete body.name;
    if (spec.modelId === "") delete body.model_id;
    if (spec.extraArgs.length === 0) delete body.extra_args;
  }
  // Connect clients send 0 for "unset" in places; keep 0 ports meaning "allocate".
  return body;
}
