import { create } from "@bufbuild/protobuf";
import { ApiKeyLimitsSchema, type RouterApiKey, RouterApiKeySchema } from "@tei-fleet/proto/fleet/v1";
import { describe, expect, test } from "vitest";
import { hashApiKey } from "../../src/admission/api-key-view.ts";
import { KeyTable } from "../../src/admission/key-table.ts";
import { apiKeyViews, WatchedKeys } from "../../src/admission/watched-keys.ts";

const H1 = hashApiKey("tfk_one");
const H0 = hashApiKey("tfk_zero");

function key(extra: Partial<Omit<RouterApiKey, "$typeName">> = {}): RouterApiKey {
  return create(RouterApiKeySchema, { id: "k_1", name: "search", sha256: H1, ...extra });
}

describe("apiKeyViews: a watched RouterApiKey as the admission's views", () => {
  test("defaults: all models, seed 004's 80/s burst 50, no token limit, no expiry, counted under the id", () => {
    const [v, ...rest] = apiKeyViews(key());
    expect(rest).toHaveLength(0);
    expect(v).toEqual({
      hash: H1,
      id: "k_1",
      name: "search",
      allowedModels: "all",
      limits: { requestsPerSecond: 80, burst: 50, tokensPerMinute: undefined },
      expiresAtMs: undefined,
      weight: undefined,
    });
  });

  test("models, limits, expiry and weight carried over; an uppercase hash is lowered", () => {
    const [v] = apiKeyViews(
      key({
        sha256: H1.toUpperCase(),
        models: ["embed", "BAAI/bge-small-en-v1.5"],
        limits: create(ApiKeyLimitsSchema, { requestsPerSecond: 5, burst: 2, tokensPerMinute: 1000 }),
        expiresAtMs: 1_900_000_000_000n,
        weight: 3,
      }),
    );
    expect(v).toMatchObject({
      hash: H1,
      allowedModels: ["embed", "BAAI/bge-small-en-v1.5"],
      limits: { requestsPerSecond: 5, burst: 2, tokensPerMinute: 1000 },
      expiresAtMs: 1_900_000_000_000,
      weight: 3,
    });
  });

  test("a rotation's previous hash works until its grace ends (never past the key's expiry), under the same id", () => {
    const now = 1_000_000;
    const views = apiKeyViews(key({ previousSha256: H0, previousExpiresAtMs: BigInt(now + 60_000) }), now);
    expect(views.map((v) => v.hash)).toEqual([H1, H0]);
    expect(views[1]).toMatchObject({ id: "k_1", expiresAtMs: now + 60_000 });
    const capped = apiKeyViews(key({ previousSha256: H0, previousExpiresAtMs: BigInt(now + 60_000), expiresAtMs: BigInt(now + 10) }), now);
    expect(capped[1]?.expiresAtMs).toBe(now + 10);
    // An ended grace gives no view.
    expect(apiKeyViews(key({ previousSha256: H0, previousExpiresAtMs: BigInt(now - 1) }), now)).toHaveLength(1);
  });
});

describe("WatchedKeys keeps a KeyTable in step with the watch", () => {
  test("snapshot replaces, upsert changes a key's hashes, remove by id takes every hash", () => {
    const table = new KeyTable();
    const now = 1_000_000;
    const w = new WatchedKeys(table, () => now);
    table.upsert({ hash: "stale", name: "old", allowedModels: "all", limits: { requestsPerSecond: 1, burst: 1 } });
    w.replace([key(), key({ id: "k_2", name: "other", sha256: H0 })]);
    expect(table.size).toBe(2);
    expect(table.get("stale")).toBeUndefined();
    expect(table.get(H1)?.name).toBe("search");

    // Rotation with grace: the new hash and the old one, both for k_1.
    const H2 = hashApiKey("tfk_two");
    w.upsert(key({ sha256: H2, previousSha256: H1, previousExpiresAtMs: BigInt(now + 5000) }));
    expect(table.get(H2)?.id).toBe("k_1");
    expect(table.get(H1)?.expiresAtMs).toBe(now + 5000);
    // Rotated again without grace: the oldest hash leaves.
    const H3 = hashApiKey("tfk_three");
    w.upsert(key({ sha256: H3 }));
    expect(table.get(H1)).toBeUndefined();
    expect(table.get(H2)).toBeUndefined();
    expect(table.get(H3)?.name).toBe("search");

    // Revoked: one delta removing the entry.
    w.remove("k_1");
    expect(table.get(H3)).toBeUndefined();
    expect(table.get(H0)?.name).toBe("other");
    expect(w.size).toBe(1);
    w.remove("k_unknown");
    expect(table.size).toBe(1);
  });
});
