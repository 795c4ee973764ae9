import { ApiError } from "../errors/api-error.ts";
import { escapeLoneSurrogates, fieldPath } from "./well-formed.ts";

/**
 * Request JSON, read strictly. JSON.parse lets three things through silently that a store, a
 * protobuf decoder or a Lua script later chokes on, or that silently mean something else:
 *
 * - bytes that are not UTF-8 (a TextDecoder turns them into U+FFFD without a word);
 * - strings, keys included, that are not well-formed Unicode (`"\ud800"` is valid JSON syntax);
 * - duplicate keys in one object (the last one wins).
 *
 * These are exactly what RFC 7493 (I-JSON) rules out. Each is refused as INVALID_JSON naming
 * the field by its path (`model_id`, `extra_args.1`, `node_selector.gpu`), so REST and Connect
 * JSON (which both read bodies through here) answer the same.
 */

/** Options of the checks. */
export interface StrictJsonOptions {
  /** Keys refused anywhere in the document (VALIDATION_ERROR naming the key). */
  forbiddenKeys?: ReadonlySet<string>;
}

const FATAL_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const LENIENT_UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * The text of a UTF-8 JSON body. Bytes that are not UTF-8 are refused, naming the byte offset
 * and, when the text is JSON otherwise, the field whose string holds them.
 */
export function decodeJsonText(body: Uint8Array | string): string {
  if (typeof body === "string") return body;
  try {
    return FATAL_UTF8.decode(body);
  } catch {
    const at = firstInvalidUtf8(body);
    // The valid prefix decodes to exactly the characters before the bad byte; the bad sequence
    // becomes U+FFFD at that index, inside a string token when the text is JSON otherwise.
    const index = LENIENT_UTF8.decode(body.subarray(0, at)).length;
    const field = locateStringToken(LENIENT_UTF8.decode(body), index);
    throw new ApiError(
      "INVALID_JSON",
      `request body is not valid UTF-8 (byte ${at}${field === undefined ? "" : ` in field '${field}'`}); send JSON as UTF-8 text`,
      field === undefined ? {} : { field },
    );
  }
}

/**
 * Checks JSON text that JSON.parse accepted: every string and key well-formed, no key twice in
 * one object, no forbidden key. Throws an ApiError naming the first problem in document order.
 */
export function checkJsonText(text: string, options: StrictJsonOptions = {}): void {
  scan(text, (token) => {
    const { value, path } = token;
    if (token.isKey) {
      if (options.forbiddenKeys?.has(value)) throw new ApiError("VALIDATION_ERROR", `field '${fieldPath(path)}' is not allowed`, { field: fieldPath(path) });
      if (!value.isWellFormed()) {
        throw new ApiError(
          "INVALID_JSON",
          `a key in ${path.length > 1 ? `field '${fieldPath(path.slice(0, -1))}'` : "the body"} is not well-formed Unicode ("${escapeLoneSurrogates(value)}": a lone surrogate); send UTF-8 text`,
          { field: fieldPath(path) },
        );
      }
      if (token.duplicate) {
        throw new ApiError("INVALID_JSON", `field '${fieldPath(path)}' appears more than once in the same object; send each field once`, {
          field: fieldPath(path),
        });
      }
    } else if (!value.isWellFormed()) {
      // A body that is one bare string has no field to name.
      const what = path.length > 0 ? `field '${fieldPath(path)}'` : "the body";
      throw new ApiError(
        "INVALID_JSON",
        `${what} is not well-formed Unicode ("${escapeLoneSurrogates(value)}": a lone surrogate); send UTF-8 text`,
        path.length > 0 ? { field: fieldPath(path) } : {},
      );
    }
    return false;
  });
}

/**
 * Parses a REST body: UTF-8, JSON, then {@link checkJsonText}. Blank text is `undefined` (an
 * empty body), which the caller decides about.
 */
export function parseStrictJson(body: Uint8Array | string, options: StrictJsonOptions = {}): unknown {
  const text = decodeJsonText(body);
  if (text.trim() === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ApiError("INVALID_JSON", `request body is not valid JSON: ${(err as Error).message}`);
  }
  checkJsonText(text, options);
  return value;
}

/** A string token met by {@link scan}. */
interface StringToken {
  value: string;
  /** Keys and indexes from the root to this string (for a key: to the member it names). */
  path: (string | number)[];
  isKey: boolean;
  /** A key already seen in the same object. */
  duplicate: boolean;
  /** Offsets of the opening and closing quote. */
  start: number;
  end: number;
}

type Frame = { seen: Set<string>; key: string | undefined } | { index: number };

/**
 * Walks the string tokens of text that JSON.parse accepted (so the scan can trust its syntax),
 * tracking where each one sits; stops when `visit` returns true. Keys are decoded (escapes
 * included) before they are compared, so `"a"` and `"\u0061"` are the same key.
 */
function scan(text: string, visit: (token: StringToken) => boolean): void {
  const stack: Frame[] = [];
  let expectKey = false;
  const path = () => stack.map((f) => ("index" in f ? f.index : (f.key ?? "")));
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") {
      stack.push({ seen: new Set(), key: undefined });
      expectKey = true;
    } else if (c === "[") {
      stack.push({ index: 0 });
      expectKey = false;
    } else if (c === "}" || c === "]") {
      stack.pop();
      expectKey = false;
    } else if (c === ",") {
      const top = stack.at(-1);
      if (top && "index" in top) top.index++;
      expectKey = top !== undefined && !("index" in top);
    } else if (c === ":") expectKey = false;
    else if (c === '"') {
      const start = i;
      let escaped = false;
      for (i++; text[i] !== '"'; i++) {
        if (text[i] === "\\") {
          escaped = true;
          i++;
        }
      }
      const raw = text.slice(start, i + 1);
      const value = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
      const top = stack.at(-1);
      if (expectKey && top && !("index" in top)) {
        const duplicate = top.seen.has(value);
        top.seen.add(value);
        top.key = value;
        if (visit({ value, path: path(), isKey: true, duplicate, start, end: i })) return;
      } else if (visit({ value, path: path(), isKey: false, duplicate: false, start, end: i })) return;
      expectKey = false;
    }
  }
}

/** The field path of the string token that contains character `index`, if the text is JSON. */
function locateStringToken(text: string, index: number): string | undefined {
  try {
    JSON.parse(text);
  } catch {
    return undefined;
  }
  let found: string | undefined;
  scan(text, (token) => {
    if (token.start < index && index < token.end) found = fieldPath(token.path);
    return found !== undefined || token.start > index;
  });
  return found;
}

/** Offset of the first byte that does not belong to a well-formed UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    // Lead byte: how many continuation bytes follow, and the range of the first one (RFC 3629
    // §4, which also rules out overlong forms and the surrogates U+D800..U+DFFF).
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b < 0x80) {
      i++;
      continue;
    }
    if (b >= 0xc2 && b <= 0xdf) n = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= n; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return bytes.length;
}
