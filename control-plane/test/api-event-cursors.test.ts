import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { InstanceService } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, type ApiFixture, startApi } from "./api-fixtures.ts";

let api: ApiFixture;
beforeAll(async () => {
  api = await startApi({ scheduler: { worker: false, reconciler: false } });
  await api.rest("POST", "/instances", { name: "evented", model_id: "m/m" });
});
afterAll(async () => {
  await api.close();
});

const U64_MAX = "18446744073709551615";
/** Cursors Redis would refuse ("ERR Invalid stream ID"), or that are no stream id at all. */
const MALFORMED = [
  "99999999999999999999", // the issue's: 20 digits, over 2^64 - 1
  "18446744073709551616", // 2^64
  `1-${BigInt(U64_MAX) + 1n}`,
  "-1",
  "1-2-3",
  "1-",
  "0x10",
  "1e3",
  " 1",
  "1.5",
  "+",
];

const auth: Interceptor = (next) => (req) => {
  req.header.set("authorization", `Bearer ${ADMIN}`);
  return next(req);
};

describe("event cursors are checked before Redis sees them", () => {
  it("GET /events with a malformed `after` is 400 naming it; the largest ids are valid and simply end the page", async () => {
    for (const after of MALFORMED) {
      const res = await api.rest("GET", `/events?after=${encodeURIComponent(after)}`);
      expect(res.status, `after=${after}: ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body).toMatchObject({ code: "VALIDATION_ERROR", field: "after" });
      expect(res.body.error).toContain("after");
    }
    for (const after of [U64_MAX, `${U64_MAX}-${U64_MAX}`, `${U64_MAX}-0`]) {
      const res = await api.rest("GET", `/events?after=${after}`);
      expect(res.status, `after=${after}: ${JSON.stringify(res.body)}`).toBe(200);
      expect(res.body).toEqual({ events: [], next_cursor: after });
    }
    // Valid cursors still page, and `limit` is checked too.
    expect((await api.rest("GET", "/events?after=0&limit=1")).body.events).toHaveLength(1);
    expect((await api.rest("GET", `/events?after=1-${U64_MAX}&limit=1`)).body.events).toHaveLength(1);
    expect((await api.rest("GET", "/events?limit=many")).body).toMatchObject({ code: "VALIDATION_ERROR", field: "limit" });
  });

  it("ListEvents and Watch with a malformed cursor are INVALID_ARGUMENT naming after_event_id", async () => {
    const client = createClient(InstanceService, createConnectTransport({ baseUrl: api.url, httpVersion: "1.1", interceptors: [auth] }));
    const codeOf = async (call: () => Promise<unknown>) => {
      const err = ConnectError.from(
        await call().then(
          () => new Error("the call succeeded"),
          (e: unknown) => e,
        ),
      );
      return [Code[err.code], err.metadata.get("x-error-code"), err.metadata.get("x-error-field")];
    };
    for (const afterEventId of MALFORMED) {
      expect(await codeOf(() => client.listEvents({ afterEventId })), afterEventId).toEqual(["InvalidArgument", "VALIDATION_ERROR", "after_event_id"]);
      expect(
        await codeOf(async () => {
          for await (const _ of client.watch({ afterEventId })) break;
        }),
        afterEventId,
      ).toEqual(["InvalidArgument", "VALIDATION_ERROR", "after_event_id"]);
    }
    expect((await client.listEvents({ afterEventId: `${U64_MAX}-${U64_MAX}` })).events).toEqual([]);
  });
});
