/**
 * The catalog's REST bodies as zod schemas (snake_case, unknown fields refused): what
 * `PUT /catalog/aliases/{name}`, `/catalog/models/{id}`, `/catalog/backends/{name}` and their
 * PATCH take. Connect's messages are converted to these shapes and checked by the same schemas
 * (catalog-validation.ts), and `teictl` checks fleet files with them, so every surface accepts
 * exactly the same entries.
 */
import { z } from "zod";
import { instanceNameProblem } from "../names.ts";
import { catalogNameProblem, ModelIdSchema } from "./catalog-names.ts";

/** Most targets of one alias: a canary or an A/B split needs a few, not a fleet. */
export const MAX_ALIAS_TARGETS = 16;
/** Largest target weight; weights are relative, so this only bounds the arithmetic. */
export const MAX_TARGET_WEIGHT = 1_000_000;

const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);

/** A name checked by a rule that words its own refusal (names.ts, catalog-names.ts). */
const named = (problem: (name: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    const why = problem(value);
    if (why !== undefined) ctx.addIssue({ code: "custom", message: `must be a valid name: ${why}` });
  });

const WeightSchema = z
  .int()
  .min(1, `must be a positive integer (1-${MAX_TARGET_WEIGHT})`)
  .max(MAX_TARGET_WEIGHT, `must be a positive integer (1-${MAX_TARGET_WEIGHT})`);

/** The four ways to name a target; exactly one per target. */
export const TARGET_KINDS = ["model_id", "instance", "backend", "alias"] as const;

/** One target of an alias: `{"model_id": "BAAI/bge-small-en-v1.5", "weight": 95}`. */
export const AliasTargetBody = z
  .strictObject({
    model_id: ModelIdSchema.optional(),
    instance: named((n) => instanceNameProblem(n)).optional(),
    backend: named((n) => catalogNameProblem("backend", n)).optional(),
    alias: named((n) => catalogNameProblem("alias", n)).optional(),
    weight: WeightSchema.default(1),
  })
  .superRefine((target, ctx) => {
    const given = TARGET_KINDS.filter((k) => target[k] !== undefined);
    if (given.length !== 1) ctx.addIssue({ code: "custom", message: `must name exactly one of ${TARGET_KINDS.join(", ")} (got ${given.length})` });
  });

/** Fields every catalog entry has besides its own. */
const common = {
  /** Unset or true: enabled. */
  enabled: z.boolean().default(true),
  /** Why it is disabled; shown to callers that are refused. */
  reason: text(500).default(""),
  description: text(1000).default(""),
  /** The apply set that owns the entry (`teictl apply --prune` deletes only its own). */
  managed_by: text(253).default(""),
};

/** `PUT /catalog/aliases/{name}`: the whole alias. `name`, when given, must be the path's. */
export const AliasBody = z.strictObject({
  name: z.string().optional(),
  targets: z.array(AliasTargetBody).min(1, "must list at least one target").max(MAX_ALIAS_TARGETS, `must list at most ${MAX_ALIAS_TARGETS} targets`),
  ...common,
});
export type AliasInput = z.infer<typeof AliasBody>;

/** `PUT /catalog/models/{model_id}`: the settings of one model id. */
export const ModelBody = z.strictObject({
  model_id: z.string().optional(),
  ...common,
});
export type ModelInput = z.infer<typeof ModelBody>;

/** The protocols a remote backend may speak, as REST names them. */
export const BACKEND_KINDS = ["tei", "openai"] as const;

/**
 * A remote backend's base URL: http or https, no credentials (they belong in `api_key`, which is
 * kept secret; a URL is shown and logged), no fragment. Refusals never repeat the URL, in case it
 * held a password.
 */
export const BackendUrlSchema = z
  .string()
  .min(1, "must not be empty")
  .max(2048, "must be at most 2048 characters")
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: "custom", message: "must be an absolute http:// or https:// URL" });
      return;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:")
      ctx.addIssue({ code: "custom", message: `must use http or https (got ${url.protocol.slice(0, 20)})` });
    else if (url.username !== "" || url.password !== "")
      ctx.addIssue({ code: "custom", message: "must not hold credentials: send the upstream key as api_key, which is kept secret" });
    else if (url.hash !== "") ctx.addIssue({ code: "custom", message: "must not have a #fragment" });
  });

/**
 * An upstream API key: what goes after `Bearer ` in a header, so printable ASCII without spaces.
 * The refusal never repeats it.
 */
export const UpstreamApiKeySchema = z
  .string()
  .min(1, "must not be empty (send null to remove the key)")
  .max(4096, "must be at most 4096 characters")
  .refine((v) => /^[\x21-\x7e]+$/.test(v), "must be printable ASCII without spaces (it is sent as a bearer token)");

/** `PUT /catalog/backends/{name}`: the whole backend. `api_key`: absent keeps the stored key, null removes it. */
export const BackendBody = z.strictObject({
  name: z.string().optional(),
  kind: z.enum(BACKEND_KINDS),
  url: BackendUrlSchema,
  upstream_model: text(512).default(""),
  api_key: UpstreamApiKeySchema.nullish(),
  timeout_ms: z.int().min(1, "must be between 1 and 600000").max(600_000, "must be between 1 and 600000").nullish(),
  ...common,
});
export type BackendInput = z.infer<typeof BackendBody>;

/** `PATCH` of any catalog entry: switch it on or off (the rest of the entry is kept). */
export const EnabledBody = z.strictObject({
  enabled: z.boolean(),
  reason: text(500).optional(),
});
export type EnabledInput = z.infer<typeof EnabledBody>;
