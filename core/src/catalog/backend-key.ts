/**
 * A remote backend's upstream API key between its stored form and the plaintext a caller sends
 * (`authorization: Bearer`): sealed under the fleet's secrets key when the control plane has one
 * (CatalogBackend.sealed_api_key), else kept as it came (CatalogBackend.api_key). The control
 * plane's writes and health probes and the routers' calls all go through here, so the rule is
 * one.
 */
import type { CatalogBackend } from "@tei-fleet/proto/fleet/v1";
import { backendSecretContext, type SecretsKey } from "../secrets/index.ts";

/** The key of a backend entry in plaintext ("" for none), or why this process cannot have it. */
export type UpstreamKey = { readonly key: string; readonly problem?: undefined } | { readonly key: ""; readonly problem: string };

/** The plaintext upstream key of `entry`, opened with `secrets` when it is sealed. */
export function upstreamKeyOf(entry: CatalogBackend, secrets: SecretsKey | undefined): UpstreamKey {
  if (entry.sealedApiKey === "") return { key: entry.apiKey };
  if (secrets === undefined) return { key: "", problem: "its API key is sealed and this process has no TEI_FLEET_SECRETS_KEY" };
  try {
    return { key: secrets.open(entry.sealedApiKey, backendSecretContext(entry.backend?.name ?? "")) };
  } catch (err) {
    return { key: "", problem: (err as Error).message };
  }
}

/** The stored form of `key` for backend `name`: sealed with `secrets` when given, else plaintext. */
export function storedUpstreamKey(key: string, name: string, secrets: SecretsKey | undefined): { apiKey: string; sealedApiKey: string } {
  if (key === "") return { apiKey: "", sealedApiKey: "" };
  if (secrets === undefined) return { apiKey: key, sealedApiKey: "" };
  return { apiKey: "", sealedApiKey: secrets.seal(key, backendSecretContext(name)) };
}
