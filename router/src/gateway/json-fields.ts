/**
 * Reading the fields of a parsed JSON body the way TEI's serde types do: each check names the
 * field at fault (a wrong type is 422 Validation, as TEI's JSON shape errors are; empty inputs
 * are 400 Empty), and every text must be well-formed Unicode, since gRPC carries UTF-8 and a lone
 * surrogate escape (`"\ud800"`) has none (serde_json refuses it too).
 */
import { emptyField, invalidField } from "./gateway-error.ts";
import type { Direction } from "./grpc-request.ts";

/** Fails unless `v` is a string of well-formed Unicode. */
export function text(v: unknown, field: string): string {
  if (typeof v !== "string") throw invalidField(field, `expected a string, got ${kind(v)}`);
  if (!v.isWellFormed()) throw invalidField(field, "is not well-formed Unicode (a lone surrogate escape)");
  return v;
}

/** A non-empty text (TEI's Empty otherwise). */
export function nonEmptyText(v: unknown, field: string): string {
  const s = text(v, field);
  if (s.length === 0) throw emptyField(field, "`inputs` cannot be empty");
  return s;
}

/** The JSON kind of a value, for messages. */
export function kind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/** An optional bool (null counts as absent). */
export function optBool(body: Record<string, unknown>, field: string): boolean | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw invalidField(field, `expected a boolean, got ${kind(v)}`);
  return v;
}

/** An optional string (null counts as absent). */
export function optText(body: Record<string, unknown>, field: string): string | undefined {
  const v = body[field];
  return v === undefined || v === null ? undefined : text(v, field);
}

/** An optional integer in [min, max] (null counts as absent). */
export function optInt(body: Record<string, unknown>, field: string, min: number, max = 0xffffffff): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) throw invalidField(field, `expected an integer, got ${kind(v)}`);
  if (v < min || v > max) throw invalidField(field, `must be between ${min} and ${max}, got ${v}`);
  return v;
}

/** `truncation_direction`: "right" / "left" in either case (TEI's PR #755), default right. */
export function direction(body: Record<string, unknown>, field = "truncation_direction"): Direction {
  const v = body[field];
  if (v === undefined || v === null) return 0;
  if (v === "right" || v === "Right") return 0;
  if (v === "left" || v === "Left") return 1;
  throw invalidField(field, `expected "right" or "left", got ${typeof v === "string" ? JSON.stringify(v) : kind(v)}`);
}

/** A string or a non-empty list of strings (`inputs` of /embed, /tokenize...), as a list. */
export function textList(v: unknown, field: string, max: number): string[] {
  if (typeof v === "string") return [nonEmptyText(v, field)];
  if (!Array.isArray(v)) throw invalidField(field, `expected a string or an array of strings, got ${kind(v)}`);
  if (v.length === 0) throw emptyField(field, "`inputs` cannot be empty");
  if (v.length > max) throw invalidField(field, `at most ${max} inputs per request, got ${v.length}`);
  const out = new Array<string>(v.length);
  for (let i = 0; i < v.length; i++) out[i] = nonEmptyText(v[i], `${field}[${i}]`);
  return out;
}

/** A list of token ids (u32), e.g. one pre-tokenized input. */
export function idList(v: unknown, field: string): number[] {
  if (!Array.isArray(v)) throw invalidField(field, `expected an array of token ids, got ${kind(v)}`);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > 0xffffffff)
      throw invalidField(`${field}[${i}]`, "expected a token id (a non-negative integer)");
  }
  return v as number[];
}

/** True for a non-empty array of numbers (a token-id input). */
export function isIdArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && typeof v[0] === "number";
}
