import { aliasGraphProblem, parseAlias, parseBackend } from "@tei-fleet/core/catalog";
import { generateApiKey, hashApiKey, parseApiKey } from "@tei-fleet/core/keys";
import { expect, it } from "vitest";

// The rules `teictl` will apply to fleet files before sending them: core's, without a server.

it("finds a cycle through stored aliases and names the target that closes it", () => {
  const stored = new Map([
    ["b", ["c"]],
    ["c", ["d"]],
    ["d", []],
  ]);
  expect(aliasGraphProblem("d", [undefined, "b"], stored)).toEqual({
    code: "ALIAS_CYCLE",
    message: "alias 'd' would make a cycle: d → b → c → d",
    field: "targets.1.alias",
  });
  expect(aliasGraphProblem("d", [undefined], stored)).toBeUndefined();
});

it("bounds the depth of chains that pass through the alias, counting those that point at it", () => {
  const stored = new Map([
    ["a", ["b"]],
    ["b", ["c"]],
    ["c", []],
  ]);
  // a → b → c → x is 4 aliases: fine; a → b → c → x → y is 5.
  expect(aliasGraphProblem("c", ["x"], stored)).toBeUndefined();
  expect(aliasGraphProblem("c", ["x"], new Map([...stored, ["x", ["y"]]]))?.message).toBe(
    "alias chain a → b → c → x → y passes through 5 aliases; at most 4 may be chained",
  );
});

it("accepts what it refuses nowhere else, with defaults", () => {
  const ok = parseAlias("embed", { targets: [{ model_id: "BAAI/bge-small-en-v1.5" }, { backend: "remote", weight: 3 }] });
  expect(ok).toEqual({
    ok: true,
    value: {
      targets: [
        { model_id: "BAAI/bge-small-en-v1.5", weight: 1 },
        { backend: "remote", weight: 3 },
      ],
      enabled: true,
      reason: "",
      description: "",
      managed_by: "",
    },
  });
});

it("never repeats a backend's URL credentials or key in a refusal", () => {
  const creds = parseBackend("b", { kind: "tei", url: "https://admin:hunter2@tei.example" });
  expect(creds.ok).toBe(false);
  expect(JSON.stringify(creds)).not.toContain("hunter2");
  const key = parseBackend("b", { kind: "tei", url: "http://tei.example", api_key: "sk secret with spaces" });
  expect(!key.ok && key.problem.field).toBe("api_key");
  expect(JSON.stringify(key)).not.toContain("secret with spaces");
});

it("makes keys of 256 random bits and checks them by SHA-256", () => {
  const a = generateApiKey();
  expect(a).toMatch(/^tfk_[A-Za-z0-9_-]{43}$/);
  expect(a).not.toBe(generateApiKey());
  expect(hashApiKey(a)).toMatch(/^[0-9a-f]{64}$/);
  expect(parseApiKey({ name: "k" })).toMatchObject({ ok: true, value: { limits: { requests_per_second: 80, burst: 50, tokens_per_minute: 0 }, models: [] } });
});
