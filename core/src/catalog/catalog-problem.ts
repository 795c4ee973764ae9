/**
 * Why a catalog entry is refused: a catalogue code, one sentence and the field at fault, as for
 * instance specs (spec-problem.ts, whose zod wording this reuses), so that REST, Connect and the
 * coming `teictl` report the same verdict with the same words.
 */
import type { SpecProblemCode } from "../spec/spec-problem.ts";

/**
 * The codes a catalog entry can be refused with: a subset of the control plane's error
 * catalogue (control-plane/src/errors/error-catalogue.ts), which maps each to an HTTP status and
 * a Connect code. ALIAS_CYCLE is 422: the body is well formed, but the catalog cannot take it.
 */
export type CatalogProblemCode = SpecProblemCode | "ALIAS_CYCLE";

/** One reason a catalog write cannot be accepted. */
export interface CatalogProblem {
  code: CatalogProblemCode;
  /** One sentence naming the field, never a secret's value. */
  message: string;
  /** The field at fault in REST JSON's naming (a dotted path, `targets.1.alias`). */
  field?: string;
}

/** A verdict: the accepted value, or the first problem found. */
export type CatalogResult<T> = { ok: true; value: T } | { ok: false; problem: CatalogProblem };

/** A refusal naming `field`. */
export const refusal = (message: string, field: string, code: CatalogProblemCode = "VALIDATION_ERROR"): { ok: false; problem: CatalogProblem } => ({
  ok: false,
  problem: { code, message, field },
});
