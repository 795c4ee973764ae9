/** API keys for the admission tests. */
import { type ApiKeyView, hashApiKey, type KeyLimits } from "../../src/admission/api-key-view.ts";

/** A key view for the secret `secret`, with `extra` over the defaults (80/s, burst 50, all models). */
export function keyView(secret: string, extra: Partial<Omit<ApiKeyView, "hash">> & { limits?: KeyLimits } = {}): ApiKeyView {
  return { hash: hashApiKey(secret), name: "team", allowedModels: "all", limits: { requestsPerSecond: 80, burst: 50 }, ...extra };
}
