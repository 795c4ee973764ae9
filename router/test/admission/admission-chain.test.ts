import { describe, expect, test } from "vitest";
import { type AdmissionStep, endCall, onCallEnd, runAdmission } from "../../src/admission/admission.ts";
import { GRPC_CALL_STEPS } from "../../src/admission/grpc-chain.ts";
import { GrpcStatus, RouterError } from "../../src/index.ts";
import { grpcCall } from "../support/grpc-call.ts";

const pass =
  (log: string[], name: string): AdmissionStep =>
  () => {
    log.push(name);
    return undefined;
  };

describe("running the chain", () => {
  test("runs every step in order and lets the call on, synchronously", () => {
    const log: string[] = [];
    expect(runAdmission([pass(log, "a"), pass(log, "b"), pass(log, "c")], grpcCall("/tei.v1.Embed/Embed"))).toBeUndefined();
    expect(log).toEqual(["a", "b", "c"]);
  });

  test("stops at the first refusal", () => {
    const log: string[] = [];
    const no = new RouterError(GrpcStatus.PERMISSION_DENIED, "no");
    expect(runAdmission([pass(log, "a"), () => no, pass(log, "c")], grpcCall("/tei.v1.Embed/Embed"))).toBe(no);
    expect(log).toEqual(["a"]);
  });

  test("an async step makes the rest wait, and the decision a promise", async () => {
    const log: string[] = [];
    const later: AdmissionStep = () =>
      new Promise((resolve) =>
        setTimeout(() => {
          log.push("waited");
          resolve(undefined);
        }, 5),
      );
    const decision = runAdmission([pass(log, "a"), later, pass(log, "c")], grpcCall("/tei.v1.Embed/Embed"));
    expect(decision).toBeInstanceOf(Promise);
    expect(log).toEqual(["a"]);
    expect(await decision).toBeUndefined();
    expect(log).toEqual(["a", "waited", "c"]);
  });

  test("an async refusal stops the chain", async () => {
    const log: string[] = [];
    const no = new RouterError(GrpcStatus.RESOURCE_EXHAUSTED, "queue full");
    expect(await runAdmission([async () => no, pass(log, "b")], grpcCall("/tei.v1.Embed/Embed"))).toBe(no);
    expect(log).toEqual([]);
  });

  test("the gRPC front's steps admit a well-formed call and note its target", () => {
    const call = grpcCall("/tei.v1.Embed/Embed", { "x-tei-model": "m" });
    expect(runAdmission(GRPC_CALL_STEPS, call)).toBeUndefined();
    expect(call.target).toEqual({ kind: "model", model: "m" });
  });

  test("the gRPC front's steps check POST first, then content-type, then the method", () => {
    const bad = grpcCall("/nope", { ":method": "GET", "content-type": "text/plain" });
    expect(runAdmission(GRPC_CALL_STEPS, bad)).toMatchObject({ httpStatus: 405 });
    expect(runAdmission(GRPC_CALL_STEPS, grpcCall("/nope", { "content-type": "text/plain" }))).toMatchObject({ httpStatus: 415 });
    expect(runAdmission(GRPC_CALL_STEPS, grpcCall("/nope", { "x-tei-model": "m" }))).toMatchObject({ code: GrpcStatus.UNIMPLEMENTED });
  });
});

describe("the end of a call", () => {
  test("runs what steps registered once, in registration order, with the status", () => {
    const call = grpcCall("/tei.v1.Embed/Embed");
    const log: string[] = [];
    onCallEnd(call, (code) => log.push(`slot ${code}`));
    onCallEnd(call, (code) => log.push(`permit ${code}`));
    endCall(call, GrpcStatus.OK);
    endCall(call, GrpcStatus.CANCELLED);
    expect(log).toEqual(["slot 0", "permit 0"]);
  });

  test("costs nothing when no step registered anything", () => {
    const call = grpcCall("/tei.v1.Embed/Embed");
    endCall(call, GrpcStatus.OK);
    expect(call.onEnd).toBeNull();
  });
});
