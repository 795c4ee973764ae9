import { expect, test } from "vitest";
import { servedMethod } from "../../src/admission/served-method.ts";
import { GrpcStatus } from "../../src/index.ts";
import { grpcCall, refusal } from "../support/grpc-call.ts";

test("tei.v1 and multiplexer methods pass", () => {
  expect(servedMethod(grpcCall("/tei.v1.Embed/Embed"))).toBeUndefined();
  expect(servedMethod(grpcCall("/tei.v1.Embed/EmbedStream"))).toBeUndefined();
  expect(servedMethod(grpcCall("/tei_multiplexer.v1.TeiMultiplexer/Rerank"))).toBeUndefined();
});

test("an unknown path is UNIMPLEMENTED, naming the path", () => {
  expect(servedMethod(grpcCall("/tei.v1.Embed/Nope"))).toMatchObject({
    code: GrpcStatus.UNIMPLEMENTED,
    httpStatus: 200,
    message: "unknown method /tei.v1.Embed/Nope",
  });
});

test("the multiplexer's sparse Arrow method is UNIMPLEMENTED, pointing to EmbedStream", () => {
  const refused = refusal(servedMethod(grpcCall("/tei_multiplexer.v1.TeiMultiplexer/EmbedSparseArrow")));
  expect(refused.code).toBe(GrpcStatus.UNIMPLEMENTED);
  expect(refused.message).toContain("EmbedStream");
});
