/**
 * What catalog entries may be called. Aliases and remote backends are named by the instance-name
 * rule (names.ts: a lowercase DNS label), because their names go where instance names go: the
 * `model` field and `x-tei-model` header clients send, URL paths (`/catalog/aliases/{name}`),
 * Redis keys, metric labels. A model id follows the instance spec's `model_id` rule, so that
 * every id an instance may serve can be switched off.
 */
import { INSTANCE_NAME_RULE, isInstanceName, NAME_MAX_LENGTH } from "../names.ts";
import { CreateInstanceBody } from "../spec/instance-spec.ts";

/** The kinds of named catalog entries, as messages name them. */
export type CatalogNameKind = "alias" | "backend";

/** Why `name` may not name an alias or backend, as one sentence; undefined when it may. */
export function catalogNameProblem(kind: CatalogNameKind, name: string): string | undefined {
  if (name === "") return `${kind} name must not be empty`;
  if (name.length > NAME_MAX_LENGTH) return `${kind} name must be at most ${NAME_MAX_LENGTH} characters (got ${name.length})`;
  if (!isInstanceName(name)) return `${kind} name ${JSON.stringify(name.slice(0, 80))} must be ${INSTANCE_NAME_RULE}`;
  return undefined;
}

/** The model-id rule of instance specs (not empty, at most 512 characters, no whitespace, no leading '-'). */
export const ModelIdSchema = CreateInstanceBody.shape.model_id;

/** Why `id` may not be a model id, as one sentence; undefined when it may. */
export function modelIdProblem(id: string): string | undefined {
  const parsed = ModelIdSchema.safeParse(id);
  return parsed.success ? undefined : `model id ${parsed.error.issues[0]?.message ?? "is invalid"}`;
}
