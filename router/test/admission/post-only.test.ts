import { expect, test } from "vitest";
import { postOnly } from "../../src/admission/post-only.ts";
import { GrpcStatus, RouterError } from "../../src/index.ts";
import { grpcCall } from "../support/grpc-call.ts";

test("POST passes", () => {
  expect(postOnly(grpcCall("/tei.v1.Embed/Embed"))).toBeUndefined();
});

test("any other method is UNIMPLEMENTED with HTTP 405, naming it", () => {
  const refusal = postOnly(grpcCall("/tei.v1.Embed/Embed", { ":method": "GET" }));
  expect(refusal).toBeInstanceOf(RouterError);
  expect(refusal).toMatchObject({ code: GrpcStatus.UNIMPLEMENTED, httpStatus: 405, message: "gRPC calls use POST, not GET" });
});
