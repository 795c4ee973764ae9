import { createHash, timingSafeEqual } from "node:crypto";

/** sha256 of a token, hex. Tokens are kept (in memory and in Redis) only as these hashes. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/**
 * Compares two token hashes in constant time. Hashing first makes both sides the same length,
 * so neither the content nor the length of a real token leaks through timing.
 */
export function hashesEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a, "hex");
  const bb = Buffer.from(b, "hex");
  return ba.length === bb.length && ba.length > 0 && timingSafeEqual(ba, bb);
}
