/**
 * What an API key is and how it is checked, for the control plane (which makes keys) and routers
 * (which check them) alike: `tfk_` + 32 random bytes in base64url (43 characters), stored and
 * compared as the SHA-256 of the whole string. A key carries 256 random bits, so there is no
 * dictionary to try and a slow password hash (bcrypt, argon2) would add nothing but per-call
 * cost: SHA-256 costs a router about a microsecond per call and stays preimage-resistant.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** Every key starts with this, so that secret scanners and people recognise one. */
export const API_KEY_PREFIX = "tfk_";

/** A key's shape: the prefix and 43 base64url characters. */
export const API_KEY_PATTERN = /^tfk_[A-Za-z0-9_-]{43}$/;

/** A new key: shown once, never stored. */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString("base64url");
}

/** The stored form of a key: lowercase hex SHA-256 of the whole key. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** The part of a key that may be shown to tell keys apart ("tfk_AbCd"): 4 of its 43 random characters. */
export function apiKeyDisplayPrefix(key: string): string {
  return key.slice(0, API_KEY_PREFIX.length + 4);
}

/** Compares two hex hashes in constant time. */
export function apiKeyHashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
