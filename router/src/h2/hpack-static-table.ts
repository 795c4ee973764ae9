/**
 * The fixed data of HPACK (RFC 7541) that both directions share: the static table of Appendix A,
 * its lookups by field name for the encoder, and the table size a connection starts with. The
 * decoder (hpack-decoder.ts) reads the table by index, the encoder (hpack-encoder.ts) by name.
 */

/** RFC 7541 Appendix A, index 1..61, as [name, value, name, value, ...]. */
export const STATIC_TABLE: readonly string[] = [
  ":authority",
  "",
  ":method",
  "GET",
  ":method",
  "POST",
  ":path",
  "/",
  ":path",
  "/index.html",
  ":scheme",
  "http",
  ":scheme",
  "https",
  ":status",
  "200",
  ":status",
  "204",
  ":status",
  "206",
  ":status",
  "304",
  ":status",
  "400",
  ":status",
  "404",
  ":status",
  "500",
  "accept-charset",
  "",
  "accept-encoding",
  "gzip, deflate",
  "accept-language",
  "",
  "accept-ranges",
  "",
  "accept",
  "",
  "access-control-allow-origin",
  "",
  "age",
  "",
  "allow",
  "",
  "authorization",
  "",
  "cache-control",
  "",
  "content-disposition",
  "",
  "content-encoding",
  "",
  "content-language",
  "",
  "content-length",
  "",
  "content-location",
  "",
  "content-range",
  "",
  "content-type",
  "",
  "cookie",
  "",
  "date",
  "",
  "etag",
  "",
  "expect",
  "",
  "expires",
  "",
  "from",
  "",
  "host",
  "",
  "if-match",
  "",
  "if-modified-since",
  "",
  "if-none-match",
  "",
  "if-range",
  "",
  "if-unmodified-since",
  "",
  "last-modified",
  "",
  "link",
  "",
  "location",
  "",
  "max-forwards",
  "",
  "proxy-authenticate",
  "",
  "proxy-authorization",
  "",
  "range",
  "",
  "referer",
  "",
  "refresh",
  "",
  "retry-after",
  "",
  "server",
  "",
  "set-cookie",
  "",
  "strict-transport-security",
  "",
  "transfer-encoding",
  "",
  "user-agent",
  "",
  "vary",
  "",
  "via",
  "",
  "www-authenticate",
  "",
];

/** Number of static table entries; dynamic table indices start right after. */
export const STATIC_COUNT = STATIC_TABLE.length / 2;

/** SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 §6.5.2). */
export const DEFAULT_TABLE_SIZE = 4096;

/** A static table entry the encoder can refer to, found by field name. */
export interface StaticName {
  /** Index of the first entry with this name (what "literal with indexed name" refers to). */
  readonly index: number;
  /** Values that have an exact (name, value) entry, and that entry's index. */
  readonly values: ReadonlyMap<string, number>;
}

/** The static table by field name, for the encoder: each name's first index and its exact (name, value) entries. */
export const STATIC_BY_NAME: ReadonlyMap<string, StaticName> = (() => {
  const byName = new Map<string, { index: number; values: Map<string, number> }>();
  for (let index = 1; index <= STATIC_COUNT; index++) {
    const name = STATIC_TABLE[2 * index - 2]!;
    const value = STATIC_TABLE[2 * index - 1]!;
    let entry = byName.get(name);
    if (entry === undefined) byName.set(name, (entry = { index, values: new Map() }));
    if (!entry.values.has(value)) entry.values.set(value, index);
  }
  return byName;
})();

/** Static entries whose value is a credential: sent "never indexed" (§7.1.3) so no proxy indexes them. */
export const SENSITIVE_STATIC_NAMES: ReadonlySet<number> = new Set(
  ["authorization", "cookie", "proxy-authorization"].map((name) => STATIC_BY_NAME.get(name)!.index),
);
