/**
 * The instance spec's shape and per-field rules, once: the body of tei-manager's
 * `POST /instances` (REST's snake_case names) plus the fleet's placement fields. The control
 * plane validates REST bodies and Connect's InstanceSpec messages (converted by spec-proto.ts)
 * with it, and `teictl` validates fleet files with it, so every surface accepts exactly the same
 * specs. Cross-field rules are in spec-validation.ts.
 */
import { z } from "zod";
import { NODE_NAME_PATTERN, NODE_NAME_RULE } from "../names.ts";
import { POOLING_VALUES } from "../tei-flags.ts";

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
 * A whole spec as written: tei-manager's CreateInstanceRequest, plus the fleet's placement
 * fields. Unknown fields are refused (a misspelt field must not be silently ignored); null
 * means "the default" wherever a field is optional.
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
  pooling: z.enum(POOLING_VALUES).nullish(),
  gpu_id: z.int().min(0, "must be between 0 and 255").max(255, "must be between 0 and 255").nullish(),
  prometheus_port: portField,
  extra_args: z.array(z.string().max(4096, "each argument must be at most 4096 characters")).max(64, "at most 64 arguments").nullish(),
  startup_timeout_secs: positiveInt(86_400).nullish(),
  replicas: positiveInt(64).nullish(),
  gpu_count: z.int().min(0, "must be between 0 and 16").max(16, "must be between 0 and 16").nullish(),
  gpu_memory_mb: z.int().min(0, "must be a non-negative number of MiB").max(16_777_216, "must be at most 16777216 MiB").nullish(),
  // The rule agents register under, so that every node that can join can be pinned.
  node: z.string().regex(NODE_NAME_PATTERN, `must be a node name: ${NODE_NAME_RULE} (case-sensitive)`).nullish(),
  node_selector: z.record(z.string().min(1).max(253), z.string().max(253)).nullish(),
  placement_policy: z.enum(["binpack", "spread"]).nullish(),
  desired_state: z.enum(["running", "stopped"]).nullish(),
});

/** A whole spec as validated (REST field names). */
export type CreateInstanceInput = z.infer<typeof CreateInstanceBody>;

/**
 * A change to a spec (`PATCH /instances/:name`): any subset of the fields. A field set to null
 * goes back to its default (e.g. `"port": null` lets the node allocate the port again). `name`
 * may be given only if it equals the instance's name.
 */
export const UpdateInstanceBody = CreateInstanceBody.partial().extend({ model_id: CreateInstanceBody.shape.model_id.optional() });

/** A change as validated (REST field names). */
export type UpdateInstanceInput = z.infer<typeof UpdateInstanceBody>;
