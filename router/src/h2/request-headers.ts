/**
 * What makes a request's header list malformed in HTTP/2 (RFC 9113 §8.1.1, §8.2, §8.3): the
 * rules an HTTP/2 server applies before a request reaches the application. The server side
 * (h2-server-connection.ts) resets a malformed stream with PROTOCOL_ERROR and never hands it on,
 * so whatever the router forwards is well-formed: a client cannot make a backend refuse a call
 * the router let through (TEI resets streams with uppercase names, connection-specific fields or
 * a bad `te`), which the router would count against the backend.
 *
 * One pass over the decoded list, a character table instead of regular expressions, and no
 * allocation unless the list is malformed: this runs on every call.
 */

/** Character classes, one bit each, indexed by octet (header strings are latin1). */
const NAME = 1;
const VALUE = 2;
const SPACE = 4;

/**
 * RFC 9110 §5.6.2 `tchar` without uppercase (RFC 9113 §8.2.1): what a regular field name may
 * hold. RFC 9113 alone would allow more (any visible ASCII but uppercase and ':'), but hyper,
 * TEI's HTTP/2 server, accepts only tokens, and gRPC's own metadata keys are a subset.
 */
const NAME_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz";

const CHARS = new Uint8Array(256);
for (const c of NAME_CHARS) CHARS[c.charCodeAt(0)] = NAME;
// Field values (RFC 9110 §5.5): visible ASCII, obs-text, and SP/HTAB inside. RFC 9113 §8.2.1
// names only NUL, CR and LF, but the other controls are invalid in HTTP too (RFC 9110 §5.5),
// hyper's header types reject them and nghttp2 drops them: the router forwards none of them.
for (let c = 0x21; c <= 0x7e; c++) CHARS[c] = (CHARS[c] as number) | VALUE;
for (let c = 0x80; c <= 0xff; c++) CHARS[c] = VALUE;
CHARS[0x20] = VALUE | SPACE;
CHARS[0x09] = VALUE | SPACE;

const COLON = 0x3a;

/** The request pseudo-header fields (RFC 9113 §8.3.1), one bit each. */
const METHOD = 1;
const SCHEME = 2;
const PATH = 4;
const AUTHORITY = 8;

function pseudoBit(name: string): number {
  switch (name) {
    case ":method":
      return METHOD;
    case ":scheme":
      return SCHEME;
    case ":path":
      return PATH;
    case ":authority":
      return AUTHORITY;
    default:
      return 0; // :status is a response's; :protocol needs extended CONNECT, never enabled
  }
}

function isValidName(name: string): boolean {
  const n = name.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c > 0xff || ((CHARS[c] as number) & NAME) === 0) return false;
  }
  return true;
}

function isValidValue(value: string): boolean {
  const n = value.length;
  if (n === 0) return true;
  // No whitespace at either end (RFC 9113 §8.2.1); a char above 0xff reads as 0 and fails below.
  if ((((CHARS[value.charCodeAt(0)] ?? 0) | (CHARS[value.charCodeAt(n - 1)] ?? 0)) & SPACE) !== 0) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff || ((CHARS[c] as number) & VALUE) === 0) return false;
  }
  return true;
}

/** `te` may say only "trailers" (RFC 9113 §8.2.2); transfer codings are case-insensitive. */
function isTrailers(value: string): boolean {
  return value === "trailers" || (value.length === 8 && value.toLowerCase() === "trailers");
}

/**
 * Why a regular (non-pseudo) field is malformed, or null: its name and value characters, and
 * the connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2). Names are switched on by
 * length first, so most fields cost one integer comparison here.
 */
function malformedField(name: string, value: string): string | null {
  if (!isValidName(name)) return `field name ${JSON.stringify(name)} is not a lowercase token`;
  if (!isValidValue(value)) return `the value of ${name} has a control character or surrounding whitespace`;
  switch (name.length) {
    case 2:
      return name === "te" && !isTrailers(value) ? `te must be "trailers", not ${JSON.stringify(value)}` : null;
    case 7:
      return name === "upgrade" ? "connection-specific field upgrade" : null;
    case 10:
      return name === "connection" || name === "keep-alive" ? `connection-specific field ${name}` : null;
    case 16:
      return name === "proxy-connection" ? "connection-specific field proxy-connection" : null;
    case 17:
      return name === "transfer-encoding" ? "connection-specific field transfer-encoding" : null;
    default:
      return null;
  }
}

/**
 * Why a request's header list is malformed (RFC 9113 §8.2, §8.3), or null when it is
 * well-formed: lowercase token names, values without controls or surrounding whitespace, no
 * connection-specific fields, `te` only "trailers", the request pseudo-headers each at most
 * once and before every regular field, no others, and `:method`, `:scheme` and a non-empty
 * `:path` present (CONNECT: `:authority` only, §8.5).
 * @param headers - the decoded list, flat [name, value, ...]
 */
export function malformedRequest(headers: readonly string[]): string | null {
  let seen = 0;
  let regular = false;
  let method = "";
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    if (name.charCodeAt(0) !== COLON) {
      regular = true;
      const why = malformedField(name, value);
      if (why !== null) return why;
      continue;
    }
    const bit = pseudoBit(name);
    if (bit === 0) return `pseudo-header ${JSON.stringify(name)} is not one of a request`;
    if (regular) return `pseudo-header ${name} after a regular field`;
    if ((seen & bit) !== 0) return `${name} given twice`;
    if (!isValidValue(value)) return `the value of ${name} has a control character or surrounding whitespace`;
    seen |= bit;
    if (bit === METHOD) method = value;
    else if (bit === PATH && value === "") return ":path is empty";
  }
  if ((seen & METHOD) === 0) return "no :method";
  if (method === "CONNECT") {
    if ((seen & (SCHEME | PATH)) !== 0) return "CONNECT with :scheme or :path";
    return (seen & AUTHORITY) === 0 ? "CONNECT without :authority" : null;
  }
  if ((seen & SCHEME) === 0) return "no :scheme";
  if ((seen & PATH) === 0) return "no :path";
  return null;
}

/**
 * Why a request's trailer section is malformed, or null: it must end the stream (RFC 9113 §8.1)
 * and carry no pseudo-headers (§8.1), and its fields follow the rules of every field.
 * @param endStream - the HEADERS frame carrying it had END_STREAM
 */
export function malformedTrailers(headers: readonly string[], endStream: boolean): string | null {
  if (!endStream) return "a second header section that does not end the stream";
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name.charCodeAt(0) === COLON) return `pseudo-header ${JSON.stringify(name)} in trailers`;
    const why = malformedField(name, headers[i + 1] as string);
    if (why !== null) return why;
  }
  return null;
}
