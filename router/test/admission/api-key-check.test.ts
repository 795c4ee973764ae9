import { describe, expect, test } from "vitest";
import { type AdmissionCall, runAdmission } from "../../src/admission/admission.ts";
import { bearerKey, createApiKeyCheck } from "../../src/admission/api-key-check.ts";
import { hashApiKey } from "../../src/admission/api-key-view.ts";
import { CallModels } from "../../src/admission/call-model.ts";
import { GRPC_CALL_STEPS } from "../../src/admission/grpc-chain.ts";
import { KeyTable } from "../../src/admission/key-table.ts";
import { GrpcStatus, RouterError } from "../../src/grpc/grpc-status.ts";
import { RouteTable } from "../../src/routing/route-table.ts";
import { grpcCall, refusal } from "../support/grpc-call.ts";
import { FakeClock } from "./fake-clock.ts";
import { keyView } from "./keys.ts";

const SECRET = "tf_live_9f2c4e1d8a7b6c5d";
const OTHER = "tf_live_00000000other";

function setup() {
  const clock = new FakeClock();
  const keys = new KeyTable();
  const table = new RouteTable();
  table.replace(
    [
      { instanceName: "bge", modelId: "BAAI/bge-small-en-v1.5", node: "n", address: "127.0.0.1:1", assignmentId: "a", replica: 0 },
      { instanceName: "gte", modelId: "thenlper/gte-base", node: "n", address: "127.0.0.1:2", assignmentId: "b", replica: 0 },
    ],
    1n,
  );
  const steps = [...GRPC_CALL_STEPS, createApiKeyCheck({ keys, clock, models: new CallModels(table) })];
  const run = (path: string, headers: Record<string, string>): { call: AdmissionCall; decision: RouterError | undefined } => {
    const call = grpcCall(path, headers);
    const decision = runAdmission(steps, call);
    if (decision instanceof Promise) throw new Error("the key check is synchronous");
    return { call, decision };
  };
  return { clock, keys, table, run };
}

const EMBED = "/tei.v1.Embed/Embed";
const bearer = (k: string) => ({ authorization: `Bearer ${k}` });

/** Every refusal message, checked for the key and its hash. */
function expectNoSecret(err: RouterError, ...secrets: string[]): void {
  for (const s of secrets) {
    expect(err.message).not.toContain(s);
    expect(err.message).not.toContain(hashApiKey(s));
  }
}

describe("the API key check", () => {
  test("a call without a key, or not a bearer token, is UNAUTHENTICATED", () => {
    const { run } = setup();
    expect(refusal(run(EMBED, { "x-tei-model": "m" }).decision)).toMatchObject({ code: GrpcStatus.UNAUTHENTICATED });
    expect(refusal(run(EMBED, { "x-tei-model": "m", authorization: `Basic ${SECRET}` }).decision)).toMatchObject({
      code: GrpcStatus.UNAUTHENTICATED,
      message: "authorization must be Bearer <key>",
    });
    expect(refusal(run(EMBED, { "x-tei-model": "m", authorization: "Bearer " }).decision).code).toBe(GrpcStatus.UNAUTHENTICATED);
  });

  test("a known key is noted on the call; the scheme's case does not matter", () => {
    const { keys, run } = setup();
    const view = keyView(SECRET);
    keys.upsert(view);
    const { call, decision } = run(EMBED, { "x-tei-model": "m", authorization: `bearer ${SECRET}` });
    expect(decision).toBeUndefined();
    expect(call.key).toBe(view);
  });

  test("an unknown key and a revoked one get the same answer, naming neither key nor hash", () => {
    const { keys, run } = setup();
    keys.upsert(keyView(SECRET));
    const unknown = refusal(run(EMBED, { "x-tei-model": "m", ...bearer(OTHER) }).decision);
    expect(keys.remove(hashApiKey(SECRET))).toBe(true);
    const revoked = refusal(run(EMBED, { "x-tei-model": "m", ...bearer(SECRET) }).decision);
    expect(unknown).toMatchObject({ code: GrpcStatus.UNAUTHENTICATED, message: "unknown or revoked API key" });
    expect(revoked.message).toBe(unknown.message);
    expectNoSecret(unknown, SECRET, OTHER);
  });

  test("an expired key is UNAUTHENTICATED from its expiry on", () => {
    const { clock, keys, run } = setup();
    keys.upsert(keyView(SECRET, { name: "ci", expiresAtMs: clock.wallNow() + 1000 }));
    expect(run(EMBED, { "x-tei-model": "m", ...bearer(SECRET) }).decision).toBeUndefined();
    clock.advance(1000);
    const err = refusal(run(EMBED, { "x-tei-model": "m", ...bearer(SECRET) }).decision);
    expect(err).toMatchObject({ code: GrpcStatus.UNAUTHENTICATED, message: 'API key "ci" has expired' });
  });

  test("a key limited to some models may call them, by model or by instance, and is PERMISSION_DENIED for others", () => {
    const { keys, run } = setup();
    keys.upsert(keyView(SECRET, { name: "search", allowedModels: ["BAAI/bge-small-en-v1.5"] }));
    expect(run(EMBED, { "x-tei-model": "BAAI/bge-small-en-v1.5", ...bearer(SECRET) }).decision).toBeUndefined();
    expect(run(EMBED, { "x-tei-instance": "bge", ...bearer(SECRET) }).decision).toBeUndefined();
    const byModel = refusal(run(EMBED, { "x-tei-model": "thenlper/gte-base", ...bearer(SECRET) }).decision);
    expect(byModel).toMatchObject({ code: GrpcStatus.PERMISSION_DENIED, message: 'API key "search" may not call model "thenlper/gte-base"' });
    expect(refusal(run(EMBED, { "x-tei-instance": "gte", ...bearer(SECRET) }).decision).code).toBe(GrpcStatus.PERMISSION_DENIED);
    // An index without a model, and the multiplexer, name no model before admission.
    expect(refusal(run(EMBED, { "x-tei-index": "0", ...bearer(SECRET) }).decision).code).toBe(GrpcStatus.PERMISSION_DENIED);
    expect(refusal(run("/tei_multiplexer.v1.TeiMultiplexer/Embed", bearer(SECRET)).decision).code).toBe(GrpcStatus.PERMISSION_DENIED);
    expectNoSecret(byModel, SECRET);
  });

  test("a key for all models may call the multiplexer", () => {
    const { keys, run } = setup();
    keys.upsert(keyView(SECRET));
    expect(run("/tei_multiplexer.v1.TeiMultiplexer/Embed", bearer(SECRET)).decision).toBeUndefined();
  });

  test("a replaced key takes effect on the next call", () => {
    const { keys, run } = setup();
    keys.upsert(keyView(SECRET, { allowedModels: ["thenlper/gte-base"] }));
    expect(refusal(run(EMBED, { "x-tei-instance": "bge", ...bearer(SECRET) }).decision).code).toBe(GrpcStatus.PERMISSION_DENIED);
    keys.upsert(keyView(SECRET));
    expect(run(EMBED, { "x-tei-instance": "bge", ...bearer(SECRET) }).decision).toBeUndefined();
  });
});

describe("bearer tokens", () => {
  test("reads the key after the scheme, refuses other schemes and empty keys", () => {
    expect(bearerKey("Bearer abc")).toBe("abc");
    expect(bearerKey("BEARER  abc ")).toBe("abc");
    expect(bearerKey("Bearerabc")).toBeUndefined();
    expect(bearerKey("Token abcdef")).toBeUndefined();
    expect(bearerKey("Bearer    ")).toBeUndefined();
  });
});

describe("the key table", () => {
  test("upserts, removes and replaces keys by hash, bumping its version", () => {
    const t = new KeyTable();
    const a = keyView("a");
    t.upsert(a);
    t.upsert(keyView("b"));
    expect(t.size).toBe(2);
    expect(t.get(hashApiKey("a"))).toBe(a);
    expect(t.remove(hashApiKey("a"))).toBe(true);
    expect(t.remove(hashApiKey("a"))).toBe(false);
    t.replace([keyView("c")]);
    expect([t.size, t.get(hashApiKey("b")), t.version]).toEqual([1, undefined, 4]);
  });
});

test("keys are hashed with SHA-256, hex, as the control plane stores them", () => {
  expect(hashApiKey("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  expect(new RouterError(GrpcStatus.OK, "x").retryAfterMs).toBeUndefined();
});
