/**
 * A static API key table read from a JSON file (`--api-keys-file`), for tests, benchmarks and
 * fleets run without a control plane, like the routes file:
 *
 * ```json
 * {"keys": [{"name": "team-a", "hash": "<sha-256 hex of the key>", "allowedModels": "all",
 *            "limits": {"requestsPerSecond": 80, "burst": 50, "tokensPerMinute": 600000},
 *            "expiresAtMs": 1893456000000, "weight": 1}]}
 * ```
 *
 * Only hashes are stored, as the control plane stores them (`printf %s "$KEY" | sha256sum`).
 * `allowedModels` defaults to "all", `limits` to 80 requests/s with a burst of 50 and no token
 * limit, `weight` to 1; a key without `expiresAtMs` does not expire.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { type ApiKeyView, DEFAULT_KEY_LIMITS } from "./api-key-view.ts";

const LimitsSchema = z.object({
  requestsPerSecond: z.number().positive().default(DEFAULT_KEY_LIMITS.requestsPerSecond),
  burst: z.number().min(1).default(DEFAULT_KEY_LIMITS.burst),
  tokensPerMinute: z.number().positive().optional(),
});

const KeySchema = z.object({
  /** Optional: what the key's limits count under (two hashes of one rotated key share them). */
  id: z.string().min(1).optional(),
  name: z.string().min(1),
  hash: z.string().regex(/^[0-9a-f]{64}$/, "hash must be the SHA-256 of the key, 64 lowercase hex digits"),
  allowedModels: z.union([z.literal("all"), z.array(z.string().min(1))]).default("all"),
  limits: LimitsSchema.default({ requestsPerSecond: DEFAULT_KEY_LIMITS.requestsPerSecond, burst: DEFAULT_KEY_LIMITS.burst }),
  expiresAtMs: z.number().int().positive().optional(),
  weight: z.number().positive().default(1),
});

/** The schema of an API keys file. */
export const ApiKeysFileSchema = z.object({ keys: z.array(KeySchema) });

/**
 * Reads and validates an API keys file.
 * @throws Error naming the file and the offending field (never a hash) when it is unreadable or invalid
 */
export async function loadApiKeysFile(path: string): Promise<ApiKeyView[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new Error(`cannot read API keys file ${path}: ${(err as Error).message}`);
  }
  const parsed = ApiKeysFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid API keys file ${path}: ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`);
  }
  const seen = new Set<string>();
  for (const k of parsed.data.keys) {
    if (seen.has(k.hash)) throw new Error(`invalid API keys file ${path}: key "${k.name}" repeats another key's hash`);
    seen.add(k.hash);
  }
  return parsed.data.keys;
}
