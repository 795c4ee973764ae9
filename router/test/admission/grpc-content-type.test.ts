import { expect, test } from "vitest";
import { grpcContentType, isGrpcContentType } from "../../src/admission/grpc-content-type.ts";
import { GrpcStatus } from "../../src/index.ts";
import { grpcCall } from "../support/grpc-call.ts";

test.each(["application/grpc", "application/grpc+proto", "application/grpc; charset=utf-8", "application/grpc+proto;x=1"])("%s passes", (ct) => {
  expect(isGrpcContentType(ct)).toBe(true);
  expect(grpcContentType(grpcCall("/tei.v1.Embed/Embed", { "content-type": ct }))).toBeUndefined();
});

test.each(["application/json", "application/grpc-web", "application/grpc+json", "application/grpcx", "text/plain"])(
  "%s is INVALID_ARGUMENT with HTTP 415",
  (ct) => {
    expect(isGrpcContentType(ct)).toBe(false);
    expect(grpcContentType(grpcCall("/tei.v1.Embed/Embed", { "content-type": ct }))).toMatchObject({
      code: GrpcStatus.INVALID_ARGUMENT,
      httpStatus: 415,
      message: `content-type must be application/grpc, got "${ct}"`,
    });
  },
);

test("a request without a content-type is refused too", () => {
  const call = grpcCall("/tei.v1.Embed/Embed");
  const headers = call.headers.filter((_, i, all) => all[i - (i % 2)] !== "content-type");
  expect(grpcContentType({ ...call, headers })).toMatchObject({ httpStatus: 415, message: 'content-type must be application/grpc, got ""' });
});
