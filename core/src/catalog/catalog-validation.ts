/**
 * Whether a catalog entry may be written, entry by entry: the schemas' per-field rules
 * (catalog-schemas.ts), the entry's name from the path, and the rules across fields (the name in
 * a body is the path's, no target twice, no alias pointing at itself). The rule across aliases
 * (cycles, depth) is alias-graph.ts', applied where the whole catalog is known. REST bodies,
 * Connect messages (converted by catalog-proto.ts) and `teictl`'s files all pass here.
 */
import { specProblemFromZod } from "../spec/spec-problem.ts";
import { type CatalogNameKind, catalogNameProblem, modelIdProblem } from "./catalog-names.ts";
import { type CatalogResult, refusal } from "./catalog-problem.ts";
import {
  AliasBody,
  type AliasInput,
  BackendBody,
  type BackendInput,
  EnabledBody,
  type EnabledInput,
  ModelBody,
  type ModelInput,
  TARGET_KINDS,
} from "./catalog-schemas.ts";

/** The problem with an alias or backend name from a path (or a Connect message), naming `field`. */
export function catalogNameResult(kind: CatalogNameKind, name: string, field = "name"): CatalogResult<string> {
  const problem = catalogNameProblem(kind, name);
  return problem === undefined ? { ok: true, value: name } : refusal(problem, field);
}

/** The same for a model id. */
export function modelIdResult(id: string, field = "model_id"): CatalogResult<string> {
  const problem = modelIdProblem(id);
  return problem === undefined ? { ok: true, value: id } : refusal(problem, field);
}

/** A body's `name` (or `model_id`) must be the path's when it is given: entries are never renamed by a PUT. */
function sameName(given: string | undefined, path: string, field: string): CatalogResult<undefined> {
  if (given === undefined || given === path) return { ok: true, value: undefined };
  return refusal(`${field} '${given.slice(0, 80)}' differs from '${path}' in the path; an entry cannot be renamed (delete it and create another)`, field);
}

/** Validates `PUT /catalog/aliases/{name}`. */
export function parseAlias(name: string, body: unknown): CatalogResult<AliasInput> {
  const named = catalogNameResult("alias", name);
  if (!named.ok) return named;
  const parsed = AliasBody.safeParse(body, { reportInput: true });
  if (!parsed.success) return { ok: false, problem: specProblemFromZod(parsed.error, "the alias") };
  const same = sameName(parsed.data.name, name, "name");
  if (!same.ok) return same;
  const seen = new Map<string, number>();
  for (const [i, target] of parsed.data.targets.entries()) {
    const kind = TARGET_KINDS.find((k) => target[k] !== undefined)!;
    const id = `${kind}\u0000${target[kind]}`;
    const first = seen.get(id);
    if (first !== undefined)
      return refusal(`targets.${i} names the same ${kind} as targets.${first}; give it one target with the sum of the weights`, `targets.${i}`);
    seen.set(id, i);
    if (kind === "alias" && target.alias === name) return refusal(`alias '${name}' must not point to itself`, `targets.${i}.alias`, "ALIAS_CYCLE");
  }
  return { ok: true, value: parsed.data };
}

/** Validates `PUT /catalog/models/{model_id}`. */
export function parseModel(modelId: string, body: unknown): CatalogResult<ModelInput> {
  const id = modelIdResult(modelId);
  if (!id.ok) return id;
  const parsed = ModelBody.safeParse(body ?? {}, { reportInput: true });
  if (!parsed.success) return { ok: false, problem: specProblemFromZod(parsed.error, "the model entry") };
  const same = sameName(parsed.data.model_id, modelId, "model_id");
  return same.ok ? { ok: true, value: parsed.data } : same;
}

/** Validates `PUT /catalog/backends/{name}`. */
export function parseBackend(name: string, body: unknown): CatalogResult<BackendInput> {
  const named = catalogNameResult("backend", name);
  if (!named.ok) return named;
  // Inputs are reported only for wrong types (spec-problem.ts), so an api_key, always a string when valid-typed, is never repeated.
  const parsed = BackendBody.safeParse(body, { reportInput: true });
  if (!parsed.success) return { ok: false, problem: specProblemFromZod(parsed.error, "the backend") };
  const same = sameName(parsed.data.name, name, "name");
  return same.ok ? { ok: true, value: parsed.data } : same;
}

/** Validates a PATCH that enables or disables an entry. */
export function parseEnabled(body: unknown): CatalogResult<EnabledInput> {
  const parsed = EnabledBody.safeParse(body, { reportInput: true });
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, problem: specProblemFromZod(parsed.error, "the change") };
}
