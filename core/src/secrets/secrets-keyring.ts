/**
 * The secrets keys one process holds: the current key, which seals, and the previous ones,
 * which still open what was sealed before a rotation (`TEI_FLEET_SECRETS_KEY`,
 * `TEI_FLEET_SECRETS_KEY_PREVIOUS`). A seal names its key's id, so the right key is found
 * without trying each. Rotation: give every router the new key with the old one as previous,
 * then the control planes (at start they reseal every entry under the new key), then drop the
 * previous key everywhere.
 */
import { SealedSecretError, type SecretsKey, sealedKeyId } from "./sealed-secret.ts";

/** The current key and the previous ones. */
export class SecretsKeyring {
  readonly current: SecretsKey;
  readonly previous: readonly SecretsKey[];

  constructor(current: SecretsKey, previous: readonly SecretsKey[] = []) {
    this.current = current;
    this.previous = previous.filter((k) => k.id !== current.id);
  }

  /** Seals under the current key. */
  seal(plaintext: string, context: string): string {
    return this.current.seal(plaintext, context);
  }

  /**
   * Opens a secret sealed under any key of the ring.
   * @throws SealedSecretError as SecretsKey.open, or naming the key it needs and the ones held
   */
  open(sealed: string, context: string): string {
    const id = sealedKeyId(sealed);
    if (id === undefined) throw new SealedSecretError("not a sealed secret (tfs1.<key id>.<data>)");
    const key = id === this.current.id ? this.current : this.previous.find((k) => k.id === id);
    if (key === undefined) throw new SealedSecretError(`sealed under secrets key ${id}; this process has ${this.describe()}`);
    return key.open(sealed, context);
  }

  /** True when `sealed` was sealed under the current key (nothing to reseal). */
  sealsCurrent(sealed: string): boolean {
    return sealedKeyId(sealed) === this.current.id;
  }

  /** `key <id>`, with `and previous <id>, ...`: for messages and logs (ids only). */
  describe(): string {
    return this.previous.length === 0 ? `key ${this.current.id}` : `key ${this.current.id} and previous ${this.previous.map((k) => k.id).join(", ")}`;
  }

  /** Never a key: the ids. */
  toJSON(): string {
    return `SecretsKeyring(${this.describe()})`;
  }

  toString(): string {
    return this.toJSON();
  }
}
