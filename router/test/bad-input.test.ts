import type { ClientHttp2Session } from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Embed, EmbedRequestSchema, Rerank, RerankStreamRequestSchema, type TruncationDirection } from "@tei-fleet/proto/tei/v1";
import { EmbedRequestSchema as MuxEmbedRequestSchema, TeiMultiplexer } from "@tei-fleet/proto/tei_multiplexer/v1";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { frame, rawCall, rawSession } from "./support/raw-client.ts";
import { type RouterFixture, route, startRouter } from "./support/router-fixture.ts";
import { startTestBackend, type TestBackend } from "./support/tei-backend.ts";

let backend: TestBackend;
let fx: RouterFixture;
let session: ClientHttp2Session;
const EMBED = "/tei.v1.Embed/Embed";
const MUX_EMBED = "/tei_multiplexer.v1.TeiMultiplexer/Embed";
const toA = { "x-tei-instance": "a" };
const embedBytes = (inputs: string, extra: object = {}) => toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs, ...extra }));

beforeAll(async () => {
  backend = await startTestBackend("a");
  fx = await startRouter([route("a", backend.address)], { maxMessageBytes: 64 * 1024 });
  session = rawSession(fx.port);
});
afterAll(async () => {
  session?.close();
  await fx?.close();
  await backend?.close();
});

async function stillServes(): Promise<void> {
  const res = await fx.client(Embed).embed({ inputs: "still here" }, { headers: toA });
  expect(res.embeddings).toHaveLength(8);
}

describe("bad input gets a gRPC status and leaves the router serving", () => {
  test("a message prefix with an invalid flag byte is INTERNAL", async () => {
    const bad = Buffer.from([7, 0, 0, 0, 2, 1, 2]);
    const res = await rawCall(session, EMBED, [bad], toA);
    expect(res.status).toBe(Code.Internal);
    expect(res.message).toContain("flag byte 7");
    await stillServes();
  });

  test("bytes that are not protobuf are INVALID_ARGUMENT", async () => {
    const res = await rawCall(session, EMBED, [frame(Buffer.from([0xff, 0xff, 0xff]))], toA);
    expect(res.status).toBe(Code.InvalidArgument);
    expect(res.message).toContain("not valid protobuf");
    await stillServes();
  });

  test("a request that ends inside a message is INTERNAL", async () => {
    const whole = frame(embedBytes("hello"));
    const res = await rawCall(session, EMBED, [whole.subarray(0, 8)], toA);
    expect(res.status).toBe(Code.Internal);
    expect(res.message).toContain("incomplete message");
  });

  test("a wrong content-type is refused with HTTP 415 and a status", async () => {
    const res = await rawCall(session, EMBED, [frame(embedBytes("x"))], { ...toA, "content-type": "application/json" });
    expect(res.headers[":status"]).toBe(415);
    expect(res.status).toBe(Code.InvalidArgument);
    expect(res.message).toContain("content-type");
    await stillServes();
  });

  test("an unknown method is UNIMPLEMENTED", async () => {
    const res = await rawCall(session, "/tei.v1.Embed/Nope", [frame(embedBytes("x"))], toA);
    expect(res.status).toBe(Code.Unimplemented);
    expect(res.message).toContain("/tei.v1.Embed/Nope");
    await stillServes();
  });

  test("a message over the size limit is RESOURCE_EXHAUSTED before it is read", async () => {
    const before = backend.calls.get("Embed") ?? 0;
    const big = frame(embedBytes("x".repeat(100 * 1024)));
    const res = await rawCall(session, EMBED, [big], toA);
    expect(res.status).toBe(Code.ResourceExhausted);
    expect(res.message).toContain("exceeds");
    expect(backend.calls.get("Embed") ?? 0).toBe(before);
    await stillServes();
  });

  test("a compressed message is UNIMPLEMENTED (TEI accepts identity only)", async () => {
    const f = frame(embedBytes("x"));
    f[0] = 1;
    const res = await rawCall(session, EMBED, [f], { ...toA, "grpc-encoding": "gzip" });
    expect(res.status).toBe(Code.Unimplemented);
  });

  test("two messages on a unary call are INVALID_ARGUMENT", async () => {
    const f = frame(embedBytes("x"));
    const res = await rawCall(session, EMBED, [Buffer.concat([f, f])], toA);
    expect(res.status).toBe(Code.InvalidArgument);
  });

  test("GET is refused", async () => {
    const res = await rawCall(session, EMBED, [], { ...toA, ":method": "GET" });
    expect(res.headers[":status"]).toBe(405);
  });

  test("EmbedSparseArrow through the multiplexer is UNIMPLEMENTED with an explanation", async () => {
    const res = await rawCall(session, "/tei_multiplexer.v1.TeiMultiplexer/EmbedSparseArrow", [frame(new Uint8Array())]);
    expect(res.status).toBe(Code.Unimplemented);
    expect(res.message).toContain("EmbedStream");
  });
});

describe("requests that would crash TEI are refused", () => {
  test.each([2, 7, -1])("truncation_direction %i on a plain Embed is INVALID_ARGUMENT and never reaches TEI", async (dir) => {
    const before = backend.calls.get("Embed") ?? 0;
    const res = await rawCall(session, EMBED, [frame(embedBytes("x", { truncationDirection: dir }))], toA);
    expect(res.status).toBe(Code.InvalidArgument);
    expect(res.message).toContain("truncation_direction");
    expect(backend.calls.get("Embed") ?? 0).toBe(before);
  });

  test("truncation_direction 1 (LEFT) passes", async () => {
    const res = await fx.client(Embed).embed({ inputs: "x", truncationDirection: 1 }, { headers: toA });
    expect(res.embeddings).toHaveLength(8);
  });

  test("truncation_direction 5 inside a multiplexer request is INVALID_ARGUMENT", async () => {
    const mux = fx.client(TeiMultiplexer);
    await expect(
      mux.embed({ target: { routing: { case: "instanceName", value: "a" } }, request: { inputs: "x", truncationDirection: 5 as TruncationDirection } }),
    ).rejects.toMatchObject({ code: Code.InvalidArgument });
    const body = toBinary(
      MuxEmbedRequestSchema,
      create(MuxEmbedRequestSchema, {
        target: { routing: { case: "instanceName", value: "a" } },
        request: { inputs: "x", truncationDirection: 3 as TruncationDirection },
      }),
    );
    const res = await rawCall(session, MUX_EMBED, [frame(body)]);
    expect(res.status).toBe(Code.InvalidArgument);
  });

  test("a later stream message with a bad truncation_direction ends the stream with INVALID_ARGUMENT", async () => {
    const ok = frame(embedBytes("fine"));
    const bad = frame(embedBytes("bad", { truncationDirection: 9 }));
    const res = await rawCall(session, "/tei.v1.Embed/EmbedStream", [ok, bad], toA);
    expect(res.status).toBe(Code.InvalidArgument);
  });

  test("an empty RerankStream is INVALID_ARGUMENT and never reaches TEI", async () => {
    async function* none() {}
    const before = backend.calls.get("RerankStream") ?? 0;
    const err = await fx
      .client(Rerank)
      .rerankStream(none(), { headers: toA })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    const muxErr = await fx
      .client(TeiMultiplexer)
      .rerankStream(none())
      .catch((e: unknown) => e);
    expect((muxErr as ConnectError).code).toBe(Code.InvalidArgument);
    expect(backend.calls.get("RerankStream") ?? 0).toBe(before);
  });

  test("a RerankStream with messages is forwarded", async () => {
    async function* two() {
      yield create(RerankStreamRequestSchema, { query: "q", text: "aa" });
      yield create(RerankStreamRequestSchema, { query: "q", text: "b" });
    }
    const res = await fx.client(Rerank).rerankStream(two(), { headers: toA });
    expect(res.ranks).toHaveLength(2);
  });
});
