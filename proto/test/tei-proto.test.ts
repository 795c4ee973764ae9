import type { DescField, DescFile } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { file_tei_v1_tei } from "../src/gen/tei/v1/tei_pb.ts";
import { file_tei_multiplexer_v1_multiplexer } from "../src/gen/tei_multiplexer/v1/multiplexer_pb.ts";

/** "3 normalize optional bool": number, name, label (when not singular) and type, as in tei.md §1.4. */
function describeField(field: DescField): string {
  const p = field.proto;
  const label = p.label === FieldDescriptorProto_Label.REPEATED ? "repeated " : p.proto3Optional ? "optional " : "";
  const type = p.typeName ? p.typeName.replace(/^\./, "").replace(/^tei\.v1\./, "") : FieldDescriptorProto_Type[p.type]!.replace("TYPE_", "").toLowerCase();
  return `${p.number} ${p.name} ${label}${type}`;
}

function messageTable(file: DescFile): Record<string, string[]> {
  return Object.fromEntries(file.messages.map((m) => [m.name, m.fields.map(describeField)]));
}

// TEI 1.9.3's proto/tei.proto, transcribed from ../shared/reference/tei.md §1.2–1.4.
const TEI_MESSAGES: Record<string, string[]> = {
  InfoRequest: [],
  InfoResponse: [
    "1 version string",
    "2 sha optional string",
    "3 docker_label optional string",
    "4 model_id string",
    "5 model_sha optional string",
    "6 model_dtype string",
    "7 model_type ModelType",
    "8 max_concurrent_requests uint32",
    "9 max_input_length uint32",
    "10 max_batch_tokens uint32",
    "11 max_batch_requests optional uint32",
    "12 max_client_batch_size uint32",
    "13 tokenization_workers uint32",
  ],
  Metadata: [
    "1 compute_chars uint32",
    "2 compute_tokens uint32",
    "3 total_time_ns uint64",
    "4 tokenization_time_ns uint64",
    "5 queue_time_ns uint64",
    "6 inference_time_ns uint64",
  ],
  EmbedRequest: [
    "1 inputs string",
    "2 truncate bool",
    "3 normalize optional bool",
    "4 truncation_direction TruncationDirection",
    "5 prompt_name optional string",
    "6 dimensions optional uint32",
  ],
  EmbedResponse: ["1 embeddings repeated float", "2 metadata Metadata"],
  EmbedSparseRequest: ["1 inputs string", "2 truncate bool", "3 truncation_direction TruncationDirection", "4 prompt_name optional string"],
  SparseValue: ["1 index uint32", "2 value float"],
  EmbedSparseResponse: ["1 sparse_embeddings repeated SparseValue", "2 metadata Metadata"],
  EmbedAllRequest: ["1 inputs string", "2 truncate bool", "3 truncation_direction TruncationDirection", "4 prompt_name optional string"],
  TokenEmbedding: ["1 embeddings repeated float"],
  EmbedAllResponse: ["1 token_embeddings repeated TokenEmbedding", "2 metadata Metadata"],
  PredictRequest: ["1 inputs string", "2 truncate bool", "3 raw_scores bool", "4 truncation_direction TruncationDirection"],
  PredictPairRequest: ["1 inputs repeated string", "2 truncate bool", "3 raw_scores bool", "4 truncation_direction TruncationDirection"],
  Prediction: ["1 score float", "2 label string"],
  PredictResponse: ["1 predictions repeated Prediction", "2 metadata Metadata"],
  RerankRequest: [
    "1 query string",
    "2 texts repeated string",
    "3 truncate bool",
    "4 raw_scores bool",
    "5 return_text bool",
    "6 truncation_direction TruncationDirection",
  ],
  RerankStreamRequest: [
    "1 query string",
    "2 text string",
    "3 truncate bool",
    "4 raw_scores bool",
    "5 return_text bool",
    "6 truncation_direction TruncationDirection",
  ],
  Rank: ["1 index uint32", "2 text optional string", "3 score float"],
  RerankResponse: ["1 ranks repeated Rank", "2 metadata Metadata"],
  EncodeRequest: ["1 inputs string", "2 add_special_tokens bool", "3 prompt_name optional string"],
  SimpleToken: ["1 id uint32", "2 text string", "3 special bool", "4 start optional uint32", "5 stop optional uint32"],
  EncodeResponse: ["1 tokens repeated SimpleToken"],
  DecodeRequest: ["1 ids repeated uint32", "2 skip_special_tokens bool"],
  DecodeResponse: ["1 text string"],
};

// Service → "Rpc(kind)": unary, bidi, client (client streaming).
const TEI_SERVICES: Record<string, string[]> = {
  Info: ["Info(unary) InfoRequest→InfoResponse"],
  Embed: [
    "Embed(unary) EmbedRequest→EmbedResponse",
    "EmbedStream(bidi_streaming) EmbedRequest→EmbedResponse",
    "EmbedSparse(unary) EmbedSparseRequest→EmbedSparseResponse",
    "EmbedSparseStream(bidi_streaming) EmbedSparseRequest→EmbedSparseResponse",
    "EmbedAll(unary) EmbedAllRequest→EmbedAllResponse",
    "EmbedAllStream(bidi_streaming) EmbedAllRequest→EmbedAllResponse",
  ],
  Predict: [
    "Predict(unary) PredictRequest→PredictResponse",
    "PredictPair(unary) PredictPairRequest→PredictResponse",
    "PredictStream(bidi_streaming) PredictRequest→PredictResponse",
    "PredictPairStream(bidi_streaming) PredictPairRequest→PredictResponse",
  ],
  Rerank: ["Rerank(unary) RerankRequest→RerankResponse", "RerankStream(client_streaming) RerankStreamRequest→RerankResponse"],
  Tokenize: [
    "Tokenize(unary) EncodeRequest→EncodeResponse",
    "TokenizeStream(bidi_streaming) EncodeRequest→EncodeResponse",
    "Decode(unary) DecodeRequest→DecodeResponse",
    "DecodeStream(bidi_streaming) DecodeRequest→DecodeResponse",
  ],
};

describe("tei/v1/tei.proto is wire-compatible with TEI 1.9.3", () => {
  it("is package tei.v1", () => {
    expect(file_tei_v1_tei.proto.package).toBe("tei.v1");
  });

  it("has every message with TEI's field numbers, names, labels and types", () => {
    expect(messageTable(file_tei_v1_tei)).toEqual(TEI_MESSAGES);
  });

  it("has all five services and 17 RPCs with their streaming kinds", () => {
    const services = Object.fromEntries(
      file_tei_v1_tei.services.map((s) => [s.name, s.methods.map((m) => `${m.name}(${m.methodKind}) ${m.input.name}→${m.output.name}`)]),
    );
    expect(services).toEqual(TEI_SERVICES);
    expect(Object.values(services).flat()).toHaveLength(17);
  });

  it("has TEI's enum values", () => {
    const enums = Object.fromEntries(file_tei_v1_tei.enums.map((e) => [e.name, e.values.map((v) => `${v.name}=${v.number}`)]));
    expect(enums).toEqual({
      ModelType: ["MODEL_TYPE_EMBEDDING=0", "MODEL_TYPE_CLASSIFIER=1", "MODEL_TYPE_RERANKER=2"],
      TruncationDirection: ["TRUNCATION_DIRECTION_RIGHT=0", "TRUNCATION_DIRECTION_LEFT=1"],
    });
  });

  it("marks Info as idempotent, as TEI does", () => {
    const info = file_tei_v1_tei.services.find((s) => s.name === "Info")!.methods[0]!;
    expect(info.idempotency).toBe(MethodOptions_IdempotencyLevel.IDEMPOTENT);
  });
});

describe("tei_multiplexer/v1/multiplexer.proto is wire-compatible with tei-manager", () => {
  const file = file_tei_multiplexer_v1_multiplexer;
  const table = messageTable(file);

  it("routes by instance_name = 1, model_id = 2, instance_index = 3 in one oneof", () => {
    expect(table.Target).toEqual(["1 instance_name string", "2 model_id string", "3 instance_index uint32"]);
    const target = file.messages.find((m) => m.name === "Target")!;
    expect(target.oneofs.map((o) => [o.name, o.fields.map((f) => f.name)])).toEqual([["routing", ["instance_name", "model_id", "instance_index"]]]);
  });

  it("wraps each TEI request as field 2 next to target = 1, and answers with TEI's responses", () => {
    const wrappers = [
      "EmbedRequest",
      "EmbedSparseRequest",
      "EmbedAllRequest",
      "PredictRequest",
      "PredictPairRequest",
      "RerankRequest",
      "RerankStreamRequest",
      "EncodeRequest",
      "DecodeRequest",
    ];
    for (const name of wrappers) {
      expect(table[name], name).toEqual(["1 target tei_multiplexer.v1.Target", `2 request ${name}`]);
    }
    expect(table.InfoRequest).toEqual(["1 target tei_multiplexer.v1.Target"]);
    const service = file.services[0]!;
    expect(`${file.proto.package}.${service.name}`).toBe("tei_multiplexer.v1.TeiMultiplexer");
    for (const m of service.methods.filter((m) => !m.name.includes("Arrow"))) {
      expect(m.output.typeName, m.name).toMatch(/^tei\.v1\./);
    }
  });

  it("has the 17 TEI RPCs of seed 002 with TEI's streaming kinds", () => {
    const mux = Object.fromEntries(file.services[0]!.methods.map((m) => [m.name, m.methodKind]));
    const tei = Object.fromEntries(file_tei_v1_tei.services.flatMap((s) => s.methods.map((m) => [m.name, m.methodKind])));
    for (const [name, kind] of Object.entries(tei)) expect(mux[name], name).toBe(kind);
  });
});
