/**
 * The secrets-key settings, one definition for every service that holds the fleet's secrets
 * keys (the control plane seals with them, routers open with them): environment-only, since
 * flags show in `ps`, and read into {@link SecretsKey}s, whose text never reaches an error.
 * {@link secretsKeyring} joins the two into the ring a service uses.
 */
import { z } from "zod";
import { ConfigError } from "../service/config-error.ts";
import type { ConfigOption } from "../service/config-option.ts";
import { SecretsKey } from "./sealed-secret.ts";
import { SecretsKeyring } from "./secrets-keyring.ts";

/** The variable that holds the fleet's current secrets key. */
export const SECRETS_KEY_ENV = "TEI_FLEET_SECRETS_KEY";
/** The variable that holds the keys of before a rotation, comma-separated. */
export const PREVIOUS_SECRETS_KEYS_ENV = "TEI_FLEET_SECRETS_KEY_PREVIOUS";

/** Parses each comma-separated key, naming the position of a bad one (never its text). */
function keysSchema(single: boolean) {
  return z.string().transform((text, ctx) => {
    const parts = single ? [text] : text.split(",").filter((p) => p.trim() !== "");
    const keys: SecretsKey[] = [];
    for (const [i, part] of parts.entries()) {
      try {
        keys.push(SecretsKey.parse(part));
      } catch (err) {
        ctx.addIssue({ code: "custom", message: single ? (err as Error).message : `key ${i + 1}: ${(err as Error).message}` });
        return z.NEVER;
      }
    }
    return keys;
  });
}

/** The option-table entry of the current key; `doc` says what this service does with it. */
export function secretsKeyOption(doc: string): ConfigOption<SecretsKey[] | undefined> {
  return { env: SECRETS_KEY_ENV, doc, schema: keysSchema(true).optional() };
}

/** The option-table entry of the previous keys. */
export function previousSecretsKeysOption(): ConfigOption<SecretsKey[] | undefined> {
  return {
    env: PREVIOUS_SECRETS_KEYS_ENV,
    doc: "secrets keys of before a rotation, comma-separated: they still open what they sealed",
    schema: keysSchema(false).optional(),
  };
}

/**
 * The ring of the two settings' values: undefined without a current key.
 * @throws ConfigError naming TEI_FLEET_SECRETS_KEY_PREVIOUS when previous keys are given without a current one
 */
export function secretsKeyring(current: SecretsKey[] | undefined, previous: SecretsKey[] | undefined): SecretsKeyring | undefined {
  const key = current?.[0];
  if (key === undefined) {
    if (previous !== undefined && previous.length > 0) {
      throw new ConfigError([{ setting: PREVIOUS_SECRETS_KEYS_ENV, message: `${PREVIOUS_SECRETS_KEYS_ENV} needs ${SECRETS_KEY_ENV} (the current key) too` }]);
    }
    return undefined;
  }
  return new SecretsKeyring(key, previous ?? []);
}
