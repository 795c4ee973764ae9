import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { hashApiKey } from "../../src/admission/api-key-view.ts";
import { loadApiKeysFile } from "../../src/admission/api-keys-file.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tei-keys-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(body: unknown): Promise<string> {
  const p = join(dir, `${Math.random()}.json`);
  await writeFile(p, JSON.stringify(body));
  return p;
}

test("reads keys by hash, with the seed's defaults for what a key leaves out", async () => {
  const h = hashApiKey("secret");
  const keys = await loadApiKeysFile(
    await file({
      keys: [
        { name: "a", hash: h },
        {
          name: "b",
          hash: hashApiKey("2"),
          allowedModels: ["m"],
          limits: { requestsPerSecond: 5, burst: 2, tokensPerMinute: 1000 },
          expiresAtMs: 2e12,
          weight: 3,
        },
      ],
    }),
  );
  expect(keys[0]).toEqual({ name: "a", hash: h, allowedModels: "all", limits: { requestsPerSecond: 80, burst: 50 }, weight: 1 });
  expect(keys[1]).toMatchObject({ allowedModels: ["m"], limits: { requestsPerSecond: 5, burst: 2, tokensPerMinute: 1000 }, expiresAtMs: 2e12, weight: 3 });
});

test("refuses a plain key where a hash belongs, and a repeated hash, without repeating either", async () => {
  const plain = "tf_live_plainkey";
  await expect(loadApiKeysFile(await file({ keys: [{ name: "a", hash: plain }] }))).rejects.toThrow(/keys\.0\.hash: hash must be the SHA-256/);
  await expect(loadApiKeysFile(await file({ keys: [{ name: "a", hash: plain }] }))).rejects.not.toThrow(plain);
  const h = hashApiKey("x");
  const dup = loadApiKeysFile(
    await file({
      keys: [
        { name: "a", hash: h },
        { name: "b", hash: h },
      ],
    }),
  );
  await expect(dup).rejects.toThrow('key "b" repeats another key\'s hash');
  await expect(loadApiKeysFile(join(dir, "missing.json"))).rejects.toThrow(/cannot read API keys file/);
});
