/**
 * The first start-up line of TEI: `Args { model_id: "BAA*\/***-*****-**-v1.5", revision: None, ... }`,
 * Rust's Debug rendering of the parsed `Args` struct with the model id and secrets partially
 * redacted. Supervisors grep this line to see what TEI actually received.
 */
import { FLAGS } from "./cli-spec.ts";

/** Fields that are `Option<..>` in TEI's Args (rendered `Some(..)` / `None`). */
const OPTIONAL = new Set([
  "revision",
  "tokenization_workers",
  "dtype",
  "served_model_name",
  "pooling",
  "max_batch_requests",
  "default_prompt_name",
  "default_prompt",
  "dense_path",
  "hf_api_token",
  "hf_token",
  "huggingface_hub_cache",
  "api_key",
  "otlp_endpoint",
  "cors_allow_origin",
]);

/** Fields whose value TEI redacts in the log. */
const REDACTED = new Set(["model_id", "hf_api_token", "hf_token", "api_key"]);

/** Rust Debug names of the clap ValueEnums. */
const ENUM_DEBUG: Record<string, Record<string, string>> = {
  dtype: { float16: "Float16", float32: "Float32" },
  pooling: { cls: "Cls", mean: "Mean", splade: "Splade", "last-token": "LastToken" },
};

/** Keeps the first 3 and last 4 characters and masks the letters and digits in between. */
export function redact(value: string): string {
  return [...value].map((ch, i, all) => (i >= 3 && i < all.length - 4 && /[\p{L}\p{N}]/u.test(ch) ? "*" : ch)).join("");
}

/** Debug rendering of one value. */
function debugValue(field: string, value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => debugValue(field, v)).join(", ")}]`;
  if (typeof value === "string") {
    const e = ENUM_DEBUG[field]?.[value];
    if (e) return e;
    return JSON.stringify(REDACTED.has(field) ? redact(value) : value);
  }
  return String(value);
}

/** Renders `Args { .. }` from the parsed fields (snake_case keys). */
export function formatArgs(fields: Record<string, unknown>): string {
  const parts = FLAGS.map(({ field }) => {
    const value = fields[field];
    if (OPTIONAL.has(field)) return `${field}: ${value === undefined ? "None" : `Some(${debugValue(field, value)})`}`;
    return `${field}: ${debugValue(field, value)}`;
  });
  return `Args { ${parts.join(", ")} }`;
}
