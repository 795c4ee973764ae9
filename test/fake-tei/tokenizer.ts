/**
 * A toy tokenizer that is exact where tests look: one token per Unicode code point
 * (id = 1000 + code point), BERT's special ids ([CLS]=101, [SEP]=102, ...), byte offsets, and a
 * Decode that inverts Tokenize. Token counts drive the max-input-length checks, so a 600-character
 * ASCII input is "too long" for a 512-token model just as a long text would be for real TEI.
 */

/** Offset of ordinary token ids: id = ID_OFFSET + code point. */
export const ID_OFFSET = 1000;
export const CLS_ID = 101;
export const SEP_ID = 102;

/** BERT-style special tokens by id. */
const SPECIALS = new Map<number, string>([
  [0, "[PAD]"],
  [100, "[UNK]"],
  [CLS_ID, "[CLS]"],
  [SEP_ID, "[SEP]"],
  [103, "[MASK]"],
]);

/** One token of an encoding, shaped like tei.v1.SimpleToken. */
export interface Token {
  id: number;
  text: string;
  special: boolean;
  start?: number;
  stop?: number;
}

/** Number of code points of a string (surrogate pairs count once), without allocating. */
export function codePointCount(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** Tokens TEI counts for a single input: the text plus [CLS] and [SEP]. */
export function tokenCount(text: string): number {
  return codePointCount(text) + 2;
}

/**
 * Cuts a text to `maxTokens` tokens including the two special tokens, keeping the start
 * (right truncation) or the end (left truncation).
 */
export function truncateText(text: string, maxTokens: number, left: boolean): string {
  const keep = Math.max(0, maxTokens - 2);
  const points = Array.from(text);
  if (points.length <= keep) return text;
  return (left ? points.slice(points.length - keep) : points.slice(0, keep)).join("");
}

/** Encodes a text for the Tokenize RPC. */
export function encode(text: string, addSpecialTokens: boolean): Token[] {
  const tokens: Token[] = [];
  if (addSpecialTokens) tokens.push({ id: CLS_ID, text: "[CLS]", special: true });
  let byte = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    const len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    tokens.push({ id: ID_OFFSET + cp, text: ch, special: false, start: byte, stop: byte + len });
    byte += len;
  }
  if (addSpecialTokens) tokens.push({ id: SEP_ID, text: "[SEP]", special: true });
  return tokens;
}

/** Decodes ids back to text; special tokens are space-separated words unless skipped. */
export function decode(ids: readonly number[], skipSpecialTokens: boolean): string {
  let out = "";
  let lastSpecial = false;
  for (const id of ids) {
    if (id >= ID_OFFSET && id - ID_OFFSET <= 0x10ffff) {
      out += String.fromCodePoint(id - ID_OFFSET);
      lastSpecial = false;
      continue;
    }
    if (skipSpecialTokens) continue;
    const special = SPECIALS.get(id) ?? `[unused${id}]`;
    const pad = out.length > 0 && !out.endsWith(" ") ? " " : "";
    out += `${pad}${special} `;
    lastSpecial = true;
  }
  return lastSpecial ? out.slice(0, -1) : out;
}
