import { ApiError } from "../errors/api-error.ts";
import type { InstanceService } from "../instances/instance-service.ts";

/** An instance's ETag: its revision, quoted. A strong validator: it changes with every spec change. */
export function instanceEtag(revision: bigint): string {
  return `"${revision}"`;
}

/**
 * One element of the If-Match list: a strong or weak entity-tag (RFC 9110 §8.8.3), or a bare
 * revision number, which this API took before it answered ETags and its README still shows. Empty
 * elements are allowed, as in every HTTP list. Sticky: the elements are read one after the other.
 */
const ELEMENT = /[ \t]*(?:(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"|(\d+))?[ \t]*(?:,|$)/y;

/**
 * The condition an If-Match header sets: `undefined` for none (no header, or `*`, which only asks
 * that the instance exist, as every write does anyway); otherwise the strong ETag values it lists.
 */
export type IfMatch = undefined | { header: string; values: string[] };

const malformedIfMatch = (value: string) =>
  new ApiError("VALIDATION_ERROR", `If-Match must be "*" or a list of ETags such as "3" (got '${value.slice(0, 40)}')`, { field: "If-Match" });

/**
 * Parses If-Match (RFC 9110 §13.1.1): `*`, or a comma-separated list of entity-tags. Weak tags
 * (`W/"3"`) are kept out of the list because If-Match compares strongly, so they never match; a
 * bare number `3` stands for `"3"`. Anything else is not an If-Match value: 400 naming the header.
 */
export function parseIfMatch(header: string | string[] | undefined): IfMatch {
  if (header === undefined) return undefined;
  const value = (Array.isArray(header) ? header.join(", ") : header).trim();
  if (value === "*") return undefined;
  const values: string[] = [];
  let elements = 0;
  ELEMENT.lastIndex = 0;
  while (ELEMENT.lastIndex < value.length) {
    const match = ELEMENT.exec(value);
    if (!match) throw malformedIfMatch(value);
    const [, weak, opaque, bare] = match;
    if (opaque !== undefined || bare !== undefined) elements++;
    if (opaque !== undefined && !weak) values.push(opaque);
    if (bare !== undefined) values.push(String(BigInt(bare)));
  }
  if (elements === 0) throw malformedIfMatch(value);
  return { header: value, values };
}

const preconditionFailed = (name: string, condition: NonNullable<IfMatch>, current: string) =>
  new ApiError("PRECONDITION_FAILED", `If-Match ${condition.header.slice(0, 80)} does not match instance '${name}', ${current}; read it again and retry`, {
    field: "If-Match",
  });

/**
 * Runs a write of instance `name` under its request's If-Match. Without a condition the write
 * runs as it is. With one, the instance is read first (a missing one stays 404: RFC 9110 §13.2.1
 * evaluates preconditions only where the request would otherwise succeed), its ETag compared with
 * the listed ones, and the write pinned to that revision, so a change that lands in between fails
 * the same way: 412 PRECONDITION_FAILED.
 */
export async function underIfMatch<T>(
  instances: Pick<InstanceService, "get">,
  name: string,
  header: string | string[] | undefined,
  write: (expectedRevision: bigint | undefined) => Promise<T>,
): Promise<T> {
  const condition = parseIfMatch(header);
  if (condition === undefined) return write(undefined);
  const { revision } = (await instances.get(name)).instance;
  if (!condition.values.includes(String(revision))) {
    throw preconditionFailed(name, condition, `whose ETag is ${instanceEtag(revision)}`);
  }
  try {
    return await write(revision);
  } catch (err) {
    if (err instanceof ApiError && err.code === "REVISION_MISMATCH") throw preconditionFailed(name, condition, "which changed meanwhile");
    throw err;
  }
}
