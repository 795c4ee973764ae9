import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CreateInstanceRequestSchema, InstanceService } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, type ApiFixture, bearer, type RestResponse, redisSnapshot, startApi } from "./api-fixtures.ts";

// Issue 9, defect 1 and "duplicate JSON keys": text that is not well-formed Unicode, and JSON
// keys given twice, are refused where they enter, on every surface, naming the field; nothing
// reaches Redis.

let api: ApiFixture;
let before: Record<string, unknown>;
beforeAll(async () => {
  // No placement worker or reconciler: nothing but this file's requests may change Redis.
  api = await startApi({ scheduler: { worker: false, reconciler: false } });
  expect((await api.rest("POST", "/instances", { name: "existing", model_id: "m/m" })).status).toBe(201);
  before = await redisSnapshot(api.redis, api.cp.keys.prefix);
});
afterAll(async () => {
  await api.close();
});

/** A REST body written as JSON text, so that escapes such as \ud800 reach the server as sent. */
const raw = (method: string, path: string, text: string) => api.rest(method, path, undefined, { raw: text });

function expectRefused(res: RestResponse, field: string, mentions: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body.code).toBe("INVALID_JSON");
  expect(res.body.field).toBe(field);
  expect(res.body.error).toContain(mentions);
  // The answer itself is well-formed: the lone surrogate is shown as its escape.
  expect(JSON.stringify(res.body).isWellFormed()).toBe(true);
}

describe("REST: strings that are not well-formed Unicode are 400 naming the field", () => {
  it("a lone surrogate in a value: model_id, an extra_args item, a node_selector value", async () => {
    expectRefused(await raw("POST", "/instances", String.raw`{"name":"x","model_id":"\ud800"}`), "model_id", String.raw`\ud800`);
    expectRefused(
      await raw("POST", "/instances", String.raw`{"name":"x","model_id":"m/m","extra_args":["--revision","\udc00"]}`),
      "extra_args.1",
      "not well-formed Unicode",
    );
    expectRefused(
      await raw("POST", "/instances", String.raw`{"name":"x","model_id":"m/m","node_selector":{"zone":"a\udfffb"}}`),
      "node_selector.zone",
      String.raw`\udfff`,
    );
    expectRefused(await raw("PATCH", "/instances/existing", String.raw`{"model_id":"m\ud800"}`), "model_id", "lone surrogate");

    // Well-formed text outside the BMP is still accepted, escaped (a surrogate pair) or not, and
    // so is an escaped backslash followed by "ud800", which is plain text.
    const res = await raw("POST", "/instances", String.raw`{"name":"emoji","model_id":"m/\ud83d\ude00","node_selector":{"team":"😀","path":"a\\ud800"}}`);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.model_id).toBe("m/😀");
    expect(res.body.spec.node_selector).toEqual({ team: "😀", path: String.raw`a\ud800` });
    expect((await api.rest("DELETE", "/instances/emoji")).status).toBe(204);
    before = await redisSnapshot(api.redis, api.cp.keys.prefix);
  });

  it("a lone surrogate in a key: node_selector, and at the top level", async () => {
    expectRefused(
      await raw("POST", "/instances", String.raw`{"name":"x","model_id":"m/m","node_selector":{"\ud800":"a"}}`),
      String.raw`node_selector.\ud800`,
      "key in field 'node_selector'",
    );
    expectRefused(await raw("POST", "/instances", String.raw`{"name":"x","model_id":"m/m","\udc01":1}`), String.raw`\udc01`, "key in the body");
  });

  it("bytes that are not UTF-8 are refused naming the field, not read as U+FFFD", async () => {
    // "caf\xe9": Latin-1, not UTF-8; and ED A0 80, a surrogate encoded as if it were a character (CESU-8).
    for (const bad of [[0xe9], [0xed, 0xa0, 0x80]]) {
      const body = Buffer.concat([Buffer.from('{"name":"x","model_id":"m/m","extra_args":["--revision","caf'), Buffer.from(bad), Buffer.from('"]}')]);
      const res = await fetch(`${api.url}/instances`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
        body,
      });
      const json = (await res.json()) as { code: string; field?: string; error: string };
      expect(res.status, JSON.stringify(json)).toBe(400);
      expect(json).toMatchObject({ code: "INVALID_JSON", field: "extra_args.1" });
      expect(json.error).toContain("not valid UTF-8");
    }
  });
});

describe("REST: a key given twice in one object is 400 naming the field", () => {
  it("at the top level, also when one is written with escapes", async () => {
    expectRefused(await raw("POST", "/instances", '{"name":"x","model_id":"a/a","model_id":"b/b"}'), "model_id", "more than once");
    expectRefused(await raw("POST", "/instances", String.raw`{"name":"x","model_id":"a/a","\u006dodel_id":"b/b"}`), "model_id", "more than once");
    expectRefused(await raw("PATCH", "/instances/existing", '{"replicas":1,"replicas":2}'), "replicas", "more than once");
  });

  it("nested: node_selector, and an object inside an array", async () => {
    expectRefused(
      await raw("POST", "/instances", '{"name":"x","model_id":"m/m","node_selector":{"zone":"a","zone":"b"}}'),
      "node_selector.zone",
      "more than once",
    );
    // Not a valid spec either, but the JSON is refused first, naming where.
    expectRefused(
      await raw("POST", "/plan", '{"instances":[{"name":"a","model_id":"m/m"},{"name":"b","name":"c","model_id":"m/m"}]}'),
      "instances.1.name",
      "more than once",
    );

    // The same key in different objects is fine.
    const res = await raw("POST", "/instances", '{"name":"twice","model_id":"m/m","node_selector":{"name":"a","model_id":"b"}}');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect((await api.rest("DELETE", "/instances/twice")).status).toBe(204);
    before = await redisSnapshot(api.redis, api.cp.keys.prefix);
  });
});

const CREATE = "/tei_fleet.v1.InstanceService/CreateInstance";

/** A raw Connect unary call; the catalogue code and field come back as response headers. */
async function connectCall(contentType: string, body: Uint8Array | string) {
  const res = await fetch(api.url + CREATE, {
    method: "POST",
    headers: { "content-type": contentType, authorization: `Bearer ${ADMIN}` },
    body,
  });
  const json = (await res.json()) as { code: string; message: string };
  return { status: res.status, code: json.code, message: json.message, apiCode: res.headers.get("x-error-code"), field: res.headers.get("x-error-field") };
}

describe("Connect: the same refusals, as INVALID_ARGUMENT with the catalogue code and the field", () => {
  it("Connect JSON: a lone surrogate in a value, a list item, a map key; a duplicate key", async () => {
    const cases: [string, string][] = [
      [String.raw`{"spec":{"name":"x","modelId":"\ud800"}}`, "spec.modelId"],
      [String.raw`{"spec":{"name":"x","modelId":"m/m","extraArgs":["--revision","\udc00"]}}`, "spec.extraArgs.1"],
      [String.raw`{"spec":{"name":"x","modelId":"m/m","nodeSelector":{"\ud800":"a"}}}`, String.raw`spec.nodeSelector.\ud800`],
      [String.raw`{"spec":{"name":"x","modelId":"m/m"},"idempotencyKey":"\ud800"}`, "idempotencyKey"],
      ['{"spec":{"name":"x","modelId":"a/a","modelId":"b/b"}}', "spec.modelId"],
      ['{"spec":{"name":"x","modelId":"m/m"},"spec":{"name":"y","modelId":"m/m"}}', "spec"],
    ];
    for (const [body, field] of cases) {
      const res = await connectCall("application/json", body);
      expect(res, body).toMatchObject({ status: 400, code: "invalid_argument", apiCode: "INVALID_JSON", field });
    }
    // Malformed JSON keeps its usual answer, in protobuf-es's words.
    expect(await connectCall("application/json", '{"spec": ')).toMatchObject({ status: 400, code: "invalid_argument", apiCode: null });
  });

  it("Connect JSON from a real client (connect-node, JSON format)", async () => {
    const client = createClient(
      InstanceService,
      createConnectTransport({ baseUrl: api.url, httpVersion: "1.1", useBinaryFormat: false, interceptors: [bearer(ADMIN)] }),
    );
    const err = await client.createInstance({ spec: { name: "x", modelId: "m/m", extraArgs: ["--revision", "\udc00"] } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    const ce = err as ConnectError;
    expect(ce.code).toBe(Code.InvalidArgument);
    expect(ce.metadata.get("x-error-code")).toBe("INVALID_JSON");
    expect(ce.metadata.get("x-error-field")).toBe("spec.extraArgs.1");
  });

  it("Connect binary: a string that is not UTF-8 (a surrogate as CESU-8) is INVALID_ARGUMENT with VALIDATION_ERROR", async () => {
    const bytes = toBinary(CreateInstanceRequestSchema, create(CreateInstanceRequestSchema, { spec: { name: "x", modelId: "m/XYZ" } }));
    const at = bytes.indexOf("X".charCodeAt(0));
    bytes.set([0xed, 0xa0, 0x80], at);
    const res = await connectCall("application/proto", bytes);
    expect(res).toMatchObject({ status: 400, code: "invalid_argument", apiCode: "VALIDATION_ERROR" });
    expect(res.message).toContain("a string field of tei_fleet.v1.CreateInstanceRequest is not valid UTF-8");
  });
});

describe("afterwards", () => {
  it("nothing was written, and the store still reads", async () => {
    expect(await redisSnapshot(api.redis, api.cp.keys.prefix)).toEqual(before);
    const list = await api.rest("GET", "/instances");
    expect(list.status).toBe(200);
    expect(list.body.map((i: { name: string }) => i.name)).toEqual(["existing"]);
  });
});
