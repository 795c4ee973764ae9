/**
 * Secrets the fleet stores and hands to routers sealed (remote backends' upstream API keys):
 * AES-256-GCM under the fleet's secrets key (`TEI_FLEET_SECRETS_KEY`, the same on the control
 * plane and every router; LiteLLM's salt key plays this part), so a Redis dump, a backup or the
 * route watch on the wire (plaintext HTTP until TLS lands) holds no usable key. The seal is bound
 * to what it belongs to (`context`, e.g. `backend:openai-large`): moved to another entry, it does
 * not open. Text form: `tfs1.<key id>.<base64url(iv ‖ ciphertext ‖ tag)>`; the key id (8 hex
 * digits of a SHA-256 of the key) lets a process with another key say so instead of failing
 * obscurely.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

const VERSION = "tfs1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/** A sealed secret that could not be opened, and why (never containing the secret or the key). */
export class SealedSecretError extends Error {
  override readonly name = "SealedSecretError";
}

/** The fleet's secrets key. */
export class SecretsKey {
  /** 8 hex digits naming the key (not secret: a hash of 256 random bits). */
  readonly id: string;
  readonly #bytes: Buffer;

  private constructor(bytes: Buffer) {
    this.#bytes = bytes;
    this.id = createHash("sha256").update("tei-fleet secrets key id\0").update(bytes).digest("hex").slice(0, 8);
  }

  /**
   * Reads a key as `TEI_FLEET_SECRETS_KEY` holds it: 32 bytes in base64 (`openssl rand -base64 32`)
   * or hex (64 digits).
   * @throws RangeError naming the expected form (never echoing the text)
   */
  static parse(text: string): SecretsKey {
    const t = text.trim();
    let bytes: Buffer | null = null;
    if (/^[0-9a-fA-F]{64}$/.test(t)) bytes = Buffer.from(t, "hex");
    else if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(t)) bytes = Buffer.from(t, t.includes("-") || t.includes("_") ? "base64url" : "base64");
    if (bytes === null || bytes.length !== KEY_BYTES) {
      throw new RangeError("must be 32 random bytes in base64 (openssl rand -base64 32) or 64 hex digits");
    }
    return new SecretsKey(bytes);
  }

  /** Seals `plaintext` for `context` (what the secret belongs to); a fresh IV each time. */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#bytes, iv);
    cipher.setAAD(Buffer.from(context, "utf8"));
    const body = Buffer.concat([iv, cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}.${this.id}.${body.toString("base64url")}`;
  }

  /**
   * Opens a secret sealed for `context`.
   * @throws SealedSecretError: not a sealed secret, sealed under another key (both ids named), or
   *   it does not open (altered, or sealed for another entry)
   */
  open(sealed: string, context: string): string {
    const parts = sealed.split(".");
    if (parts.length !== 3 || parts[0] !== VERSION) throw new SealedSecretError("not a sealed secret (tfs1.<key id>.<data>)");
    const [, id, data] = parts as [string, string, string];
    if (id !== this.id) throw new SealedSecretError(`sealed under secrets key ${id}; this process has key ${this.id}`);
    const body = Buffer.from(data, "base64url");
    if (body.length < IV_BYTES + TAG_BYTES) throw new SealedSecretError("sealed secret is truncated");
    const decipher = createDecipheriv("aes-256-gcm", this.#bytes, body.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(context, "utf8"));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()]).toString("utf8");
    } catch {
      throw new SealedSecretError("sealed secret does not open: altered, or sealed for another entry");
    }
  }

  /** Never the key: `SecretsKey(<id>)`, wherever it is printed or logged. */
  toJSON(): string {
    return `SecretsKey(${this.id})`;
  }

  toString(): string {
    return this.toJSON();
  }
}

/** The id of the key `sealed` was sealed under; undefined when it is not a sealed secret. */
export function sealedKeyId(sealed: string): string | undefined {
  const parts = sealed.split(".");
  return parts.length === 3 && parts[0] === VERSION ? parts[1] : undefined;
}

/** What a sealed secret of a remote backend is bound to. */
export function backendSecretContext(backendName: string): string {
  return `backend:${backendName}`;
}
