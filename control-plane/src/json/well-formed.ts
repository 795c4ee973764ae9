/**
 * Well-formed Unicode in JSON text and values. JavaScript strings are UTF-16 and may hold a lone
 * surrogate (`"\ud800"` is valid JSON syntax), which no UTF-8 encoder, protobuf decoder or Lua
 * cjson accepts: such a string must be refused where it enters and named readably where it is
 * reported.
 */

/** Lone surrogates: with the `u` flag, a surrogate pair is one code point and never matches. */
const LONE_SURROGATE = /\p{Cs}/gu;

/**
 * The text with each lone surrogate written as its `\uXXXX` escape, so that a message or field
 * path naming it is itself well-formed (and shows the client what it sent).
 */
export function escapeLoneSurrogates(text: string): string {
  return text.isWellFormed() ? text : text.replace(LONE_SURROGATE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** A field path as this API names fields: keys and array indexes joined with dots (`extra_args.1`). */
export function fieldPath(segments: readonly (string | number)[]): string {
  return segments.map((s) => escapeLoneSurrogates(String(s))).join(".");
}

/**
 * A copy of a parsed JSON value in which every string, keys included, is well-formed (lone
 * surrogates become U+FFFD, as a UTF-8 encoder writes them); `repaired` receives the path of
 * each string that changed. Objects are rebuilt with own data properties only, so a key such as
 * `__proto__` stays a plain key.
 */
export function toWellFormedValue(value: unknown, repaired: string[], path: (string | number)[] = []): unknown {
  if (typeof value === "string") {
    if (value.isWellFormed()) return value;
    repaired.push(fieldPath(path));
    return value.toWellFormed();
  }
  if (Array.isArray(value)) return value.map((item, i) => toWellFormedValue(item, repaired, [...path, i]));
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => {
      if (!key.isWellFormed()) repaired.push(fieldPath([...path, key]));
      return [key.toWellFormed(), toWellFormedValue(item, repaired, [...path, key])];
    }),
  );
}
