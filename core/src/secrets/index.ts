/** Secrets sealed under the fleet's secrets keys (`@tei-fleet/core/secrets`). */
export { backendSecretContext, SealedSecretError, SecretsKey, sealedKeyId } from "./sealed-secret.ts";
export { PREVIOUS_SECRETS_KEYS_ENV, previousSecretsKeysOption, SECRETS_KEY_ENV, secretsKeyOption, secretsKeyring } from "./secrets-key-option.ts";
export { SecretsKeyring } from "./secrets-keyring.ts";
