import type { CatalogProblem, CatalogResult } from "@tei-fleet/core/catalog";
import { ApiError } from "../errors/api-error.ts";

/** Throws a core verdict as the API's error: the catalogue code, core's sentence, the field. */
export function throwCatalogProblem(problem: CatalogProblem): never {
  throw new ApiError(problem.code, problem.message, problem.field === undefined ? undefined : { field: problem.field });
}

/** The accepted value of a core verdict, or its problem thrown. */
export function accepted<T>(result: CatalogResult<T>): T {
  if (!result.ok) throwCatalogProblem(result.problem);
  return result.value;
}

/** The kinds of catalog entries, as messages and error codes name them. */
export type EntryKind = "alias" | "model" | "backend" | "key";

const NOT_FOUND = { alias: "ALIAS_NOT_FOUND", model: "MODEL_NOT_FOUND", backend: "BACKEND_NOT_FOUND", key: "API_KEY_NOT_FOUND" } as const;
const FIELD = { alias: "name", model: "model_id", backend: "name", key: "id" } as const;

/** 404 for an entry that does not exist, naming the path's field. */
export function entryNotFound(kind: EntryKind, key: string): ApiError {
  const what = kind === "key" ? "API key" : kind === "model" ? "model entry" : kind;
  return new ApiError(NOT_FOUND[kind], `${what} '${key.slice(0, 200)}' not found`, { field: FIELD[kind] });
}
