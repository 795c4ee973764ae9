/**
 * The `TEI_FLEET_SECRETS_KEY` setting, one definition for every service that holds the fleet's
 * secrets key (the control plane seals with it, routers open with it): environment-only, since
 * flags show in `ps`, and read into a {@link SecretsKey}, whose text never reaches an error.
 */
import { z } from "zod";
import type { ConfigOption } from "../service/config-option.ts";
import { SecretsKey } from "./sealed-secret.ts";

/** The variable that holds the fleet's secrets key. */
export const SECRETS_KEY_ENV = "TEI_FLEET_SECRETS_KEY";

/** The option-table entry of the secrets key; `doc` says what this service does with it. */
export function secretsKeyOption(doc: string): ConfigOption<SecretsKey | undefined> {
  return {
    env: SECRETS_KEY_ENV,
    doc,
    schema: z
      .string()
      .transform((text, ctx) => {
        try {
          return SecretsKey.parse(text);
        } catch (err) {
          ctx.addIssue({ code: "custom", message: (err as Error).message });
          return z.NEVER;
        }
      })
      .optional(),
  };
}
