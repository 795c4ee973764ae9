/**
 * API keys' shared rules (`@tei-fleet/core/keys`): the key format, its hash and constant-time
 * comparison (the control plane makes keys, routers check them), and the REST bodies' schemas.
 */

export { keyInputFromProto, keySettingsFromInput, keyToJson, newKeyRecord } from "./api-key-proto.ts";
export {
  ApiKeyBody,
  type ApiKeyInput,
  DEFAULT_KEY_LIMITS,
  KeyLimitsBody,
  MAX_KEY_MODELS,
  MAX_ROTATION_GRACE_SECONDS,
  parseApiKey,
  parseRotate,
  RotateBody,
} from "./api-key-schemas.ts";
export { API_KEY_PATTERN, API_KEY_PREFIX, apiKeyDisplayPrefix, apiKeyHashesEqual, generateApiKey, hashApiKey } from "./api-key-secret.ts";
