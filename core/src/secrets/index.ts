/** Secrets sealed under the fleet's secrets key (`@tei-fleet/core/secrets`). */
export { backendSecretContext, SealedSecretError, SecretsKey } from "./sealed-secret.ts";
export { SECRETS_KEY_ENV, secretsKeyOption } from "./secrets-key-option.ts";
