/**
 * A remote backend's upstream API key between its stored form and the plaintext a caller sends
 * (`authorization: Bearer`): sealed under the fleet's current secrets key when the control plane
 * has one (CatalogBackend.sealed_api_key), else kept as it came (CatalogBackend.api_key). The
 * control plane's writes, reseals and health probes and the routers' calls all go through here,
 * so the rule is one.
 */
import type { CatalogBackend } from "@tei-fleet/proto/fleet/v1";
import { backendSecretContext, type SecretsKeyring } from "../secrets/index.ts";

/** The key of a backend entry in plaintext ("" for none), or why this process cannot have it. */
export type UpstreamKey = { readonly key: string; readonly problem?: undefined } | { readonly key: ""; readonly problem: string };

/** A backend's key as stored: at most one of the two is set. */
export interface StoredUpstreamKey {
  apiKey: string;
  sealedApiKey: string;
}

/** The plaintext upstream key of `entry`, opened with `secrets` when it is sealed. */
export function upstreamKeyOf(entry: CatalogBackend, secrets: SecretsKeyring | undefined): UpstreamKey {
  return openStored(entry, entry.backend?.name ?? "", secrets);
}

function openStored(stored: StoredUpstreamKey, name: string, secrets: SecretsKeyring | undefined): UpstreamKey {
  if (stored.sealedApiKey === "") return { key: stored.apiKey };
  if (secrets === undefined) return { key: "", problem: "its API key is sealed and this process has no TEI_FLEET_SECRETS_KEY" };
  try {
    return { key: secrets.open(stored.sealedApiKey, backendSecretContext(name)) };
  } catch (err) {
    return { key: "", problem: (err as Error).message };
  }
}

/** The stored form of `key` for backend `name`: sealed with `secrets`' current key when given, else plaintext. */
export function storedUpstreamKey(key: string, name: string, secrets: SecretsKeyring | undefined): StoredUpstreamKey {
  if (key === "") return { apiKey: "", sealedApiKey: "" };
  if (secrets === undefined) return { apiKey: key, sealedApiKey: "" };
  return { apiKey: "", sealedApiKey: secrets.seal(key, backendSecretContext(name)) };
}

/**
 * `stored` under `secrets`' current key: a plaintext key sealed, one sealed under a previous key
 * resealed; as it is when it already is, when there is no ring, or when it cannot be opened.
 */
export function underCurrentKey(stored: StoredUpstreamKey, name: string, secrets: SecretsKeyring | undefined): StoredUpstreamKey {
  if (secrets === undefined) return stored;
  if (stored.sealedApiKey === "") return stored.apiKey === "" ? stored : storedUpstreamKey(stored.apiKey, name, secrets);
  if (secrets.sealsCurrent(stored.sealedApiKey)) return stored;
  const opened = openStored(stored, name, secrets);
  return opened.problem === undefined ? storedUpstreamKey(opened.key, name, secrets) : stored;
}
