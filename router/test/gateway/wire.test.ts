import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  DecodeRequestSchema,
  EmbedAllRequestSchema,
  EmbedRequestSchema,
  EmbedResponseSchema,
  EncodeRequestSchema,
  PredictPairRequestSchema,
  PredictRequestSchema,
  RerankRequestSchema,
} from "@tei-fleet/proto/tei/v1";
import { describe, expect, test } from "vitest";
import { decodeRequest, embedRequest, embedVariantRequest, encodeRequest, predictRequest, rerankRequest } from "../../src/gateway/grpc-request.ts";
import { embeddingBytes, MetaSum, sumMetadata, unframe } from "../../src/gateway/grpc-response.ts";
import { floatsBase64, floatsJson, floatsOf } from "../../src/gateway/vector-text.ts";

const body = (frame: Buffer) => {
  expect(frame[0]).toBe(0);
  expect(frame.readUInt32BE(1)).toBe(frame.length - 5);
  return frame.subarray(5);
};

describe("the gateway's hand-written TEI requests decode as the generated schemas read them", () => {
  test("EmbedRequest with and without the optional fields, non-ASCII text included", () => {
    const o = { truncate: true, direction: 1 as const, promptName: "query" };
    expect(fromBinary(EmbedRequestSchema, body(embedRequest("héllo ✓ 😀", o, false, 64)))).toMatchObject({
      inputs: "héllo ✓ 😀",
      truncate: true,
      normalize: false,
      truncationDirection: 1,
      promptName: "query",
      dimensions: 64,
    });
    const plain = fromBinary(
      EmbedRequestSchema,
      body(embedRequest("x".repeat(300), { truncate: false, direction: 0, promptName: undefined }, undefined, undefined)),
    );
    expect(plain.inputs).toHaveLength(300);
    expect(plain.normalize).toBeUndefined();
    expect(plain.dimensions).toBeUndefined();
    expect(plain.promptName).toBeUndefined();
  });

  test("EmbedAll / Predict / PredictPair / Rerank / Encode / Decode requests", () => {
    expect(fromBinary(EmbedAllRequestSchema, body(embedVariantRequest("a", { truncate: true, direction: 1, promptName: "p" })))).toMatchObject({
      inputs: "a",
      truncate: true,
      truncationDirection: 1,
      promptName: "p",
    });
    expect(fromBinary(PredictRequestSchema, body(predictRequest(["a"], true, true, 0)))).toMatchObject({ inputs: "a", truncate: true, rawScores: true });
    expect(fromBinary(PredictPairRequestSchema, body(predictRequest(["a", "b"], false, false, 1))).inputs).toEqual(["a", "b"]);
    expect(fromBinary(RerankRequestSchema, body(rerankRequest("q", ["x", "y"], true, false, true, 0)))).toMatchObject({
      query: "q",
      texts: ["x", "y"],
      truncate: true,
      returnText: true,
    });
    expect(fromBinary(EncodeRequestSchema, body(encodeRequest("hi", true, undefined)))).toMatchObject({ inputs: "hi", addSpecialTokens: true });
    const ids = [0, 1, 127, 128, 16_383, 16_384, 2_097_152, 4_000_000_000];
    expect(fromBinary(DecodeRequestSchema, body(decodeRequest(ids, true)))).toMatchObject({ ids, skipSpecialTokens: true });
  });
});

describe("TEI's answers are read without decoding floats", () => {
  const answer = create(EmbedResponseSchema, {
    embeddings: [0.1, -2.5, 3.25e-8, 1],
    metadata: { computeChars: 5, computeTokens: 7, totalTimeNs: 9n, tokenizationTimeNs: 1n, queueTimeNs: 2_000_000n, inferenceTimeNs: 3n },
  });
  const msg = Buffer.from(toBinary(EmbedResponseSchema, answer));
  const f32 = answer.embeddings.map(Math.fround);

  test("the packed embeddings field is the little-endian float32 bytes, and Metadata is summed", () => {
    const sum = new MetaSum();
    const bytes = embeddingBytes(msg, sum);
    expect(Array.from(new Float32Array(new Uint8Array(bytes).buffer))).toEqual(f32);
    sumMetadata(msg, sum);
    expect(sum).toMatchObject({ items: 2, chars: 10, tokens: 14, totalNs: 18, queueNs: 4_000_000 });
  });

  test("float JSON parses back to the same float32 values; base64 is OpenAI's encoding of them", () => {
    const bytes = embeddingBytes(msg, new MetaSum());
    expect(JSON.parse(floatsJson(bytes))).toEqual(f32);
    expect(floatsJson(Buffer.alloc(0))).toBe("[]");
    const decoded = Buffer.from(floatsBase64(bytes), "base64");
    expect(Array.from(new Float32Array(decoded.buffer, decoded.byteOffset, 4))).toEqual(f32);
    expect(Array.from(floatsOf(bytes))).toEqual(f32);
  });

  test("an unpacked embeddings field (each float its own I32 entry) reads the same", () => {
    const parts = [Buffer.from([0x0d]), Buffer.alloc(4), Buffer.from([0x0d]), Buffer.alloc(4)];
    parts[1]?.writeFloatLE(1.5);
    parts[3]?.writeFloatLE(-0.5);
    expect(Array.from(floatsOf(embeddingBytes(Buffer.concat(parts), new MetaSum())))).toEqual([1.5, -0.5]);
  });

  test("unframe refuses compressed and truncated frames", () => {
    expect(() => unframe(Buffer.from([1, 0, 0, 0, 0]))).toThrow(/compressed/);
    expect(() => unframe(Buffer.from([0, 0, 0, 0, 9, 1]))).toThrow(/truncated/);
    expect(unframe(Buffer.from([0, 0, 0, 0, 1, 42]))).toEqual(Buffer.from([42]));
  });
});
