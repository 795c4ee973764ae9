import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { backendSecretContext, SealedSecretError, SecretsKey, SecretsKeyring, secretsKeyring } from "../src/secrets/index.ts";

const KEY_TEXT = randomBytes(32).toString("base64");
const key = SecretsKey.parse(KEY_TEXT);
const ctx = backendSecretContext("openai-large");

describe("secrets sealed under the fleet's secrets key", () => {
  it("round-trips, with a fresh IV each time, and never shows the plaintext or the key", () => {
    const a = key.seal("sk-upstream-secret", ctx);
    const b = key.seal("sk-upstream-secret", ctx);
    expect(a).not.toBe(b);
    expect(a).toMatch(new RegExp(`^tfs1\\.${key.id}\\.[A-Za-z0-9_-]+$`));
    for (const s of [a, b]) {
      expect(s).not.toContain("sk-upstream");
      expect(key.open(s, ctx)).toBe("sk-upstream-secret");
    }
    const shown = `${JSON.stringify({ key })} ${String(key)} ${inspect(key)}`;
    expect(shown).not.toContain(KEY_TEXT);
    expect(shown).not.toContain(Buffer.from(KEY_TEXT, "base64").toString("hex"));
  });

  it("reads base64, base64url and hex forms of the same 32 bytes as one key; refuses anything else without echoing it", () => {
    const raw = Buffer.from(KEY_TEXT, "base64");
    expect(SecretsKey.parse(raw.toString("hex")).id).toBe(key.id);
    expect(SecretsKey.parse(raw.toString("base64url")).id).toBe(key.id);
    expect(SecretsKey.parse(` ${KEY_TEXT}\n`).id).toBe(key.id);
    for (const bad of ["", "short", randomBytes(16).toString("base64"), randomBytes(33).toString("hex"), `${KEY_TEXT.slice(0, -2)}!=`]) {
      expect(() => SecretsKey.parse(bad)).toThrow(/^must be 32 random bytes in base64 \(openssl rand -base64 32\) or 64 hex digits$/);
    }
  });

  it("refuses, each with its reason: another key, another entry, an altered or truncated seal, plain text", () => {
    const sealed = key.seal("sk-upstream-secret", ctx);
    const other = SecretsKey.parse(randomBytes(32).toString("base64"));
    expect(() => other.open(sealed, ctx)).toThrow(new SealedSecretError(`sealed under secrets key ${key.id}; this process has key ${other.id}`));
    expect(() => key.open(sealed, backendSecretContext("another"))).toThrow(/does not open: altered, or sealed for another entry/);
    const data = sealed.split(".")[2] as string;
    const flipped = `${data.slice(0, 20)}${data[20] === "A" ? "B" : "A"}${data.slice(21)}`;
    expect(() => key.open(`tfs1.${key.id}.${flipped}`, ctx)).toThrow(/does not open/);
    expect(() => key.open(`tfs1.${key.id}.AAAA`, ctx)).toThrow(/truncated/);
    expect(() => key.open("sk-plain", ctx)).toThrow(/not a sealed secret/);
  });
});

describe("a keyring: the current key seals, previous ones still open", () => {
  it("opens what either key sealed, seals under the current one, and names the keys it has when neither fits", () => {
    const next = SecretsKey.parse(randomBytes(32).toString("base64"));
    const ring = new SecretsKeyring(next, [key, next]);
    expect(ring.previous).toEqual([key]); // the current key is not its own previous
    const old = key.seal("sk-old", ctx);
    expect(ring.open(old, ctx)).toBe("sk-old");
    expect(ring.sealsCurrent(old)).toBe(false);
    const fresh = ring.seal("sk-new", ctx);
    expect(ring.sealsCurrent(fresh)).toBe(true);
    expect(next.open(fresh, ctx)).toBe("sk-new");
    const stranger = SecretsKey.parse(randomBytes(32).toString("base64"));
    expect(() => ring.open(stranger.seal("x", ctx), ctx)).toThrow(
      new SealedSecretError(`sealed under secrets key ${stranger.id}; this process has key ${next.id} and previous ${key.id}`),
    );
    expect(JSON.stringify({ ring })).toBe(`{"ring":"SecretsKeyring(key ${next.id} and previous ${key.id})"}`);
    expect(secretsKeyring(undefined, undefined)).toBeUndefined();
    expect(() => secretsKeyring(undefined, [key])).toThrow(/needs TEI_FLEET_SECRETS_KEY/);
  });
});
