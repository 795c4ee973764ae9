/**
 * The REST bodies of API keys (`POST /keys`, `PUT /keys/{id}`, `POST /keys/{id}/rotate`) as zod
 * schemas, shared with `teictl`. Limits default to seed 004's governor: 80 requests/s with a
 * burst of 50; tokens per minute are unlimited unless set.
 */
import { z } from "zod";
import { catalogNameProblem, modelIdProblem } from "../catalog/catalog-names.ts";
import type { CatalogResult } from "../catalog/catalog-problem.ts";
import { specProblemFromZod } from "../spec/spec-problem.ts";

/** Seed 004's defaults. */
export const DEFAULT_KEY_LIMITS = { requests_per_second: 80, burst: 50, tokens_per_minute: 0 } as const;
/** Longest grace a rotation may give the previous key. */
export const MAX_ROTATION_GRACE_SECONDS = 7 * 24 * 3600;
/** Most models or aliases one key may be limited to. */
export const MAX_KEY_MODELS = 256;

const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);
const count = (max: number) => z.int().min(0, `must be between 0 and ${max}`).max(max, `must be between 0 and ${max}`);

/** A model id or alias name a key may call. */
const ModelRef = z.string().superRefine((value, ctx) => {
  // Either rule will do: aliases follow the name rule, model ids their own.
  if (catalogNameProblem("alias", value) !== undefined && modelIdProblem(value) !== undefined) {
    ctx.addIssue({ code: "custom", message: "must be a model id or an alias name" });
  }
});

export const KeyLimitsBody = z.strictObject({
  requests_per_second: z
    .int()
    .min(1, "must be between 1 and 1000000")
    .max(1_000_000, "must be between 1 and 1000000")
    .default(DEFAULT_KEY_LIMITS.requests_per_second),
  burst: z.int().min(1, "must be between 1 and 1000000").max(1_000_000, "must be between 1 and 1000000").default(DEFAULT_KEY_LIMITS.burst),
  tokens_per_minute: count(1_000_000_000).default(0),
});

/** `POST /keys` and `PUT /keys/{id}`: a key's settings. */
export const ApiKeyBody = z.strictObject({
  name: z
    .string()
    .min(1, "must not be empty")
    .max(128, "must be at most 128 characters")
    .refine((v) => !/[\u0000-\u001f]/.test(v), "must not contain control characters"),
  owner: text(128).default(""),
  /** Empty or absent: every model. */
  models: z.array(ModelRef).max(MAX_KEY_MODELS, `must list at most ${MAX_KEY_MODELS} models`).default([]),
  limits: KeyLimitsBody.default(KeyLimitsBody.parse({})),
  /** Its share when calls of several keys wait in one queue (fair queueing). */
  weight: z.int().min(1, "must be between 1 and 1000").max(1000, "must be between 1 and 1000").default(1),
  /** RFC 3339 time, or null for never. */
  expires_at: z.iso.datetime({ offset: true, message: "must be an RFC 3339 time such as 2027-01-31T00:00:00Z" }).nullish(),
  managed_by: text(253).default(""),
});
export type ApiKeyInput = z.infer<typeof ApiKeyBody>;

/** `POST /keys/{id}/rotate`. */
export const RotateBody = z.strictObject({
  grace_seconds: count(MAX_ROTATION_GRACE_SECONDS).default(0),
});

/** Validates a key's settings; `now` refuses an expiry in the past. */
export function parseApiKey(body: unknown, now = Date.now()): CatalogResult<ApiKeyInput> {
  const parsed = ApiKeyBody.safeParse(body, { reportInput: true });
  if (!parsed.success) return { ok: false, problem: specProblemFromZod(parsed.error, "the key") };
  if (parsed.data.expires_at && Date.parse(parsed.data.expires_at) <= now) {
    return { ok: false, problem: { code: "VALIDATION_ERROR", message: "field 'expires_at' must be in the future", field: "expires_at" } };
  }
  return { ok: true, value: parsed.data };
}

/** Validates a rotation. */
export function parseRotate(body: unknown): CatalogResult<z.infer<typeof RotateBody>> {
  const parsed = RotateBody.safeParse(body ?? {}, { reportInput: true });
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, problem: specProblemFromZod(parsed.error, "the rotation") };
}
