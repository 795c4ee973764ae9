import { expect, test } from "vitest";
import { metadataTarget } from "../../src/admission/metadata-target.ts";
import { GrpcStatus } from "../../src/index.ts";
import { grpcCall, refusal } from "../support/grpc-call.ts";

const EMBED = "/tei.v1.Embed/Embed";

test("notes the target a plain call names in metadata", () => {
  const byInstance = grpcCall(EMBED, { "x-tei-instance": "bge", "x-tei-model": "ignored" });
  expect(metadataTarget(byInstance)).toBeUndefined();
  expect(byInstance.target).toEqual({ kind: "instance", name: "bge" });
  const byIndex = grpcCall(EMBED, { "x-tei-model": "m", "x-tei-index": "2" });
  expect(metadataTarget(byIndex)).toBeUndefined();
  expect(byIndex.target).toEqual({ kind: "index", index: 2, model: "m" });
});

test("a plain call without a target, or with a malformed one, is INVALID_ARGUMENT", () => {
  const none = grpcCall(EMBED);
  expect(metadataTarget(none)).toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT, httpStatus: 200 });
  expect(none.target).toBeNull();
  expect(refusal(metadataTarget(grpcCall(EMBED, { "x-tei-index": "-1" }))).message).toContain("x-tei-index must be a non-negative integer");
  expect(refusal(metadataTarget(grpcCall(EMBED, { "x-tei-instance": "" }))).message).toBe("x-tei-instance is empty");
});

test("a multiplexer call passes without a target: its first message names it", () => {
  const mux = grpcCall("/tei_multiplexer.v1.TeiMultiplexer/Embed");
  expect(metadataTarget(mux)).toBeUndefined();
  expect(mux.target).toBeNull();
});
