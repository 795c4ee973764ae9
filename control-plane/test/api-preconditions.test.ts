import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiFixture, type RestResponse, startApi } from "./api-fixtures.ts";

// No placement worker or reconciler: only these requests change an instance's revision.
let api: ApiFixture;
beforeAll(async () => {
  api = await startApi({ scheduler: { worker: false, reconciler: false } });
});
afterAll(async () => {
  await api.close();
});

const create = async (name: string) => {
  const res = await api.rest("POST", "/instances", { name, model_id: "m/m" });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
};
const ifMatch = (value: string) => ({ headers: { "if-match": value } });

/** The write was refused as a failed precondition, naming the header. */
function expect412(res: RestResponse, what: string) {
  expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(412);
  expect(res.headers.get("content-type")).toContain("application/json");
  expect(res.body).toMatchObject({ code: "PRECONDITION_FAILED", field: "If-Match" });
  expect(res.body.error).toContain("If-Match");
}

describe("If-Match (RFC 9110 §13.1.1)", () => {
  it("an ETag that is not the current one is 412 for every write, whatever the opaque value, quoted or weak; nothing changes", async () => {
    await create("guarded");
    // Revision 2: "1" is stale from here on.
    expect((await api.rest("PATCH", "/instances/guarded", { max_batch_tokens: 4096 })).body.revision).toBe(2);
    const notCurrent = [
      '"1"', // stale
      "1", // stale, bare (as the README's examples send it)
      '"abc"', // opaque, never an ETag of this API
      '"02"', // not "2": ETags compare character by character
      'W/"2"', // the current revision, but weak: If-Match compares strongly
      '"1", "7", W/"2"', // a list in which nothing matches
    ];
    const writes: [string, string, unknown?][] = [
      ["PATCH", "/instances/guarded", { max_batch_tokens: 1 }],
      ["POST", "/instances/guarded/stop"],
      ["POST", "/instances/guarded/start"],
      ["POST", "/instances/guarded/restart"],
      ["DELETE", "/instances/guarded"],
    ];
    for (const value of notCurrent) {
      for (const [method, path, body] of writes) expect412(await api.rest(method, path, body, ifMatch(value)), `${method} ${path} If-Match: ${value}`);
    }
    const after = await api.rest("GET", "/instances/guarded");
    expect(after.body).toMatchObject({ revision: 2, max_batch_tokens: 4096, desired_state: "running" });
    expect(after.headers.get("etag")).toBe('"2"');
  });

  it("GET's ETag is what PATCH, stop, start and DELETE take back: quoted, bare, in a list, or *", async () => {
    await create("roundtrip");
    const got = await api.rest("GET", "/instances/roundtrip");
    const etag = got.headers.get("etag")!;
    expect(etag).toBe('"1"');
    // What is not an If-Match value at all is a 400 naming the header.
    for (const value of ["yesterday", "W/soon", '"1" "2"', '*, "1"', ""]) {
      const res = await api.rest("PATCH", "/instances/roundtrip", { max_batch_tokens: 1 }, ifMatch(value));
      expect(res.status, value).toBe(400);
      expect(res.body).toMatchObject({ code: "VALIDATION_ERROR", field: "If-Match" });
    }
    const patched = await api.rest("PATCH", "/instances/roundtrip", { max_batch_tokens: 2048 }, ifMatch(etag));
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.headers.get("etag")).toBe('"2"');
    expect((await api.rest("GET", "/instances/roundtrip")).headers.get("etag")).toBe('"2"');
    // The ETag just used is stale now.
    expect412(await api.rest("PATCH", "/instances/roundtrip", { max_batch_tokens: 1 }, ifMatch(etag)), "the old ETag");
    // Bare revision (README compatibility), and a list with the current ETag among others.
    expect((await api.rest("POST", "/instances/roundtrip/stop", undefined, ifMatch("2"))).headers.get("etag")).toBe('"3"');
    expect((await api.rest("POST", "/instances/roundtrip/start", undefined, ifMatch('"1", W/"3", "3"'))).status).toBe(200);
    expect((await api.rest("POST", "/instances/roundtrip/restart", undefined, ifMatch('"4"'))).status).toBe(200);
    expect((await api.rest("PATCH", "/instances/roundtrip", { max_batch_tokens: 64 }, ifMatch("*"))).body.revision).toBe(5);
    expect((await api.rest("DELETE", "/instances/roundtrip", undefined, ifMatch('"5"'))).status).toBe(204);
    // A missing instance is 404 with or without a condition (the precondition is never evaluated).
    for (const value of ['"5"', "*", '"abc"']) {
      expect((await api.rest("PATCH", "/instances/roundtrip", { max_batch_tokens: 1 }, ifMatch(value))).body.code).toBe("INSTANCE_NOT_FOUND");
    }
  });

  it("concurrent writes pinned to the same ETag: exactly one wins, every other one is 412", async () => {
    await create("raced");
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => api.rest("PATCH", "/instances/raced", { max_batch_tokens: 1000 + i }, ifMatch('"1"'))),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) expect412(r, "a loser of the race");
    expect((await api.rest("GET", "/instances/raced")).body.revision).toBe(2);
  });
});
