import type { ClientHttp2Session } from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EmbedRequestSchema, EmbedResponseSchema } from "@tei-fleet/proto/tei/v1";
import { EmbedRequestSchema as MuxEmbedRequestSchema } from "@tei-fleet/proto/tei_multiplexer/v1";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FrameReader } from "../src/grpc/grpc-frame.ts";
import { RouterError } from "../src/index.ts";
import { scanEnumField, scanWrapper } from "../src/tei/protobuf-scan.ts";
import { frame, rawCall, rawSession } from "./support/raw-client.ts";
import { type RouterFixture, route, startRouter } from "./support/router-fixture.ts";
import { startTestBackend, type TestBackend } from "./support/tei-backend.ts";

const embedBytes = (inputs: string, extra: object = {}) => toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs, ...extra }));

function readAll(reader: FrameReader): Buffer[] {
  const out: Buffer[] = [];
  let f: Buffer | null;
  while ((f = reader.read()) !== null) out.push(Buffer.from(f));
  return out;
}

describe("gRPC message framing across DATA chunks", () => {
  const frames = [frame(embedBytes("alpha")), frame(embedBytes("")), frame(embedBytes("a longer third message"))];
  const all = Buffer.concat(frames);

  test("every split point of the byte stream yields the same messages", () => {
    for (let cut = 0; cut <= all.length; cut++) {
      const r = new FrameReader(1 << 20);
      const got: Buffer[] = [];
      r.push(all.subarray(0, cut));
      got.push(...readAll(r));
      r.push(all.subarray(cut));
      got.push(...readAll(r));
      expect(got).toEqual(frames);
      expect(r.buffered).toBe(0);
    }
  });

  test("one byte per chunk, and all messages in one chunk", () => {
    const r = new FrameReader(1 << 20);
    const got: Buffer[] = [];
    for (const byte of all) {
      r.push(Buffer.from([byte]));
      got.push(...readAll(r));
    }
    expect(got).toEqual(frames);
    const one = new FrameReader(1 << 20);
    one.push(all);
    expect(readAll(one)).toEqual(frames);
  });

  test("a length over the limit is refused as soon as the prefix is complete", () => {
    const r = new FrameReader(100);
    r.push(Buffer.from([0, 0, 0]));
    expect(r.read()).toBeNull();
    r.push(Buffer.from([1, 0]));
    expect(() => r.read()).toThrow(RouterError);
  });
});

describe("protobuf scanning", () => {
  test("reads truncation_direction as the receiving decoder would: last value wins, 32-bit, default 0", () => {
    const b = Buffer.from(embedBytes("x", { truncationDirection: 1 }));
    expect(scanEnumField(b, 0, b.length, 4)).toBe(1);
    expect(scanEnumField(Buffer.from(embedBytes("x")), 0, 3, 4)).toBe(0);
    // field 4 twice: 7 then 1 -> 1
    const twice = Buffer.concat([Buffer.from([0x20, 7]), Buffer.from([0x20, 1])]);
    expect(scanEnumField(twice, 0, twice.length, 4)).toBe(1);
    // a negative int32 is a 10-byte varint
    const neg = Buffer.from([0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(scanEnumField(neg, 0, neg.length, 4)).toBe(-1);
  });

  test("skips unknown fields of every wire type, including groups", () => {
    const b = Buffer.from([
      0x0a,
      0x01,
      0x61, // 1: "a"
      0x29,
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      8, // 5: fixed64
      0x35,
      1,
      2,
      3,
      4, // 6: fixed32
      0x3b,
      0x08,
      0x01,
      0x3c, // 7: group { 1: 1 }
      0x20,
      0x01, // 4: 1
    ]);
    expect(scanEnumField(b, 0, b.length, 4)).toBe(1);
  });

  test("malformed bytes are INVALID_ARGUMENT, never an exception of another kind", () => {
    for (const bad of [[0x0a, 0x05, 0x61], [0x20], [0x00, 0x01], [0x3b, 0x08], [0x0f], [0x3c]]) {
      const b = Buffer.from(bad);
      expect(() => scanEnumField(b, 0, b.length, 4)).toThrow(RouterError);
    }
  });

  test("finds the multiplexer wrapper's target and request", () => {
    const b = Buffer.from(
      toBinary(MuxEmbedRequestSchema, create(MuxEmbedRequestSchema, { target: { routing: { case: "modelId", value: "m" } }, request: { inputs: "hi" } })),
    );
    const w = scanWrapper(b, 0, b.length);
    expect(b.subarray(w.targetStart, w.targetEnd)).toEqual(Buffer.from([0x12, 0x01, 0x6d]));
    expect(fromBinary(EmbedRequestSchema, b.subarray(w.requestRanges[0], w.requestRanges[1])).inputs).toBe("hi");
  });
});

describe("through the router", () => {
  let be: TestBackend;
  let fx: RouterFixture;
  let session: ClientHttp2Session;
  beforeAll(async () => {
    be = await startTestBackend("a");
    fx = await startRouter([route("a", be.address)]);
    session = rawSession(fx.port);
  });
  afterAll(async () => {
    session?.close();
    await fx?.close();
    await be?.close();
  });

  function responses(body: Buffer): string[] {
    const r = new FrameReader(1 << 20);
    r.push(body);
    return readAll(r).map((f) => fromBinary(EmbedResponseSchema, f.subarray(5)).embeddings.slice(0, 2).join(","));
  }

  test("stream messages split across and packed into DATA frames arrive intact", async () => {
    const msgs = ["one", "two", "three"].map((t) => frame(embedBytes(t)));
    const all = Buffer.concat(msgs);
    // prefix split, a message split in two, the tail of one plus the whole next in one chunk
    const chunks = [all.subarray(0, 2), all.subarray(2, 9), all.subarray(9, msgs[0]!.length + 3), all.subarray(msgs[0]!.length + 3)];
    const split = await rawCall(session, "/tei.v1.Embed/EmbedStream", chunks, { "x-tei-instance": "a" });
    const whole = await rawCall(session, "/tei.v1.Embed/EmbedStream", [all], { "x-tei-instance": "a" });
    expect(split.status).toBe(0);
    expect(responses(split.body)).toHaveLength(3);
    expect(responses(split.body)).toEqual(responses(whole.body));
  });

  test("a 5,000-message stream sent at once arrives complete through backpressure in both directions", async () => {
    const msgs = Array.from({ length: 5000 }, (_, i) => frame(embedBytes(`message number ${i}`)));
    const res = await rawCall(session, "/tei.v1.Embed/EmbedStream", [Buffer.concat(msgs)], { "x-tei-instance": "a" });
    expect(res.status).toBe(0);
    expect(responses(res.body)).toHaveLength(5000);
  }, 20_000);

  test("multiplexer messages split at every byte still unwrap correctly", async () => {
    const wrap = (inputs: string, first: boolean) =>
      frame(
        toBinary(
          MuxEmbedRequestSchema,
          create(MuxEmbedRequestSchema, { target: first ? { routing: { case: "instanceName", value: "a" } } : undefined, request: { inputs } }),
        ),
      );
    const all = Buffer.concat([wrap("one", true), wrap("two", false)]);
    const bytes = [...all].map((x) => Buffer.from([x]));
    const res = await rawCall(session, "/tei_multiplexer.v1.TeiMultiplexer/EmbedStream", bytes);
    expect(res.status).toBe(0);
    const plain = await rawCall(session, "/tei.v1.Embed/EmbedStream", [frame(embedBytes("one")), frame(embedBytes("two"))], { "x-tei-instance": "a" });
    expect(responses(res.body)).toEqual(responses(plain.body));
  });

  test("a request field repeated in the wrapper is merged, as protobuf decoders do", async () => {
    // target, then request {inputs:"x"}, then request {truncate:true}: TEI must see both
    const body = Buffer.concat([
      Buffer.from(
        toBinary(
          MuxEmbedRequestSchema,
          create(MuxEmbedRequestSchema, { target: { routing: { case: "instanceName", value: "a" } }, request: { inputs: "merged" } }),
        ),
      ),
      Buffer.from([0x12, 0x02, 0x10, 0x01]),
    ]);
    const res = await rawCall(session, "/tei_multiplexer.v1.TeiMultiplexer/Embed", [frame(body)]);
    const direct = await rawCall(session, "/tei.v1.Embed/Embed", [frame(embedBytes("merged", { truncate: true }))], { "x-tei-instance": "a" });
    expect(res.status).toBe(0);
    expect(responses(res.body)).toEqual(responses(direct.body));
  });
});
