/**
 * OpenTelemetry tracing of the gRPC front: with an OTLP endpoint, every proxied call is a SERVER
 * span `tei.v1.Embed/Embed` (scope `tei-router/grpc`), parented on the caller's valid
 * `traceparent`, and TEI receives that span's `traceparent` (with the caller's `tracestate`), so
 * TEI's spans hang under the router's hop. A caller's mistake (INVALID_ARGUMENT) is no error span;
 * the server's failure (UNAVAILABLE after a retry) is. Without an endpoint, the caller's trace
 * context reaches TEI as it came. TEI is a stand-in that records every call's trace metadata.
 */
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Embed } from "@tei-fleet/proto/tei/v1";
import { TeiMultiplexer } from "@tei-fleet/proto/tei_multiplexer/v1";
import { Table, tableToIPC, Utf8, vectorFromArray } from "apache-arrow";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { route } from "./gateway/gateway-fixture.ts";
import { startLoggingGateway } from "./support/logging-gateway.ts";
import { OTLP_KIND, OTLP_STATUS, type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "./support/otlp-receiver.ts";
import { type ReceivedCall, type RecordingTei, startRecordingTei } from "./support/recording-tei.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const CALLER_TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN}-01`;

/** The one SERVER span whose call TEI received as `input` (found through the traceparent TEI got). */
function spanOfCall(spans: ReceivedSpan[], call: ReceivedCall | undefined): ReceivedSpan {
  const id = call?.traceparent?.slice(36, 52);
  const found = spans.filter((s) => s.spanId === id);
  expect(found).toHaveLength(1);
  return found[0] as ReceivedSpan;
}

describe("with an OTLP endpoint, calls on the gRPC front are exported as SERVER spans", () => {
  let receiver: OtlpReceiver;
  let teis: RecordingTei[];
  const lines: string[] = [];
  /** What each test call's TEI call received, by input. */
  const received = new Map<string, ReceivedCall>();
  const codes = new Map<string, Code | "ok">();
  /** Each TEI's calls before the EmbedArrow call. */
  let arrowBefore: number[] = [];

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    teis = await Promise.all([startRecordingTei(), startRecordingTei()]);
    const fx = await startLoggingGateway(
      teis.map((t, i) => route(`small-${i}`, t.address, { assignmentId: `a${i}`, node: `node-${i}`, replica: i, modelId: "m" })),
      { otlpEndpoint: `${receiver.url}/v1/traces`, otelServiceName: "tei-router-grpc-test" },
      lines,
      "tei-grpc-tracing-test-",
    );
    const transport = createGrpcTransport({ baseUrl: fx.grpc });
    const embed: Client<typeof Embed> = createClient(Embed, transport);
    const mux = createClient(TeiMultiplexer, transport);
    const call = async (input: string, run: () => Promise<unknown>) => {
      const before = teis.map((t) => t.calls.length);
      try {
        await run();
        codes.set(input, "ok");
      } catch (err) {
        codes.set(input, ConnectError.from(err).code);
      }
      const got = teis.flatMap((t, i) => t.calls.slice(before[i]));
      if (got.length > 0) received.set(input, got[got.length - 1] as ReceivedCall);
    };
    const byModel = { headers: { "x-tei-model": "m" } };
    try {
      await call("plain", () => embed.embed({ inputs: "plain" }, byModel));
      await call("parented", () =>
        embed.embed({ inputs: "parented" }, { headers: { ...byModel.headers, traceparent: CALLER_TRACEPARENT, tracestate: "vendor=abc" } }),
      );
      await call("malformed", () =>
        embed.embed({ inputs: "malformed" }, { headers: { ...byModel.headers, traceparent: "00-not-a-trace-01", tracestate: "vendor=x" } }),
      );
      await call("fail", () => embed.embed({ inputs: "fail" }, byModel));
      await call("mux", () => mux.embed({ target: { routing: { case: "instanceName", value: "small-0" } }, request: { inputs: "mux" } }));
      arrowBefore = teis.map((t) => t.calls.length);
      await call("arrow-1", () =>
        mux.embedArrow(
          {
            target: { routing: { case: "modelId", value: "m" } },
            arrowIpc: tableToIPC(new Table({ text: vectorFromArray(["arrow-1", "arrow-2", "arrow-3"], new Utf8()) }), "stream"),
          },
          { headers: { traceparent: CALLER_TRACEPARENT } },
        ),
      );
      for (const t of teis) t.unavailable = true;
      await call("down", () => embed.embed({ inputs: "down" }, byModel));
      for (const t of teis) t.unavailable = false;
    } finally {
      await fx.close(); // flushes the spans
    }
  }, 60_000);
  afterAll(async () => {
    await receiver?.close();
    await Promise.all((teis ?? []).map((t) => t.close()));
  });

  test("a call without traceparent: a new trace, one SERVER span with the gRPC attributes, whose context TEI received", () => {
    expect(codes.get("plain")).toBe("ok");
    const s = spanOfCall(receiver.spans, received.get("plain"));
    expect(s).toMatchObject({ name: "tei.v1.Embed/Embed", kind: OTLP_KIND.SERVER, parentSpanId: "", scope: "tei-router/grpc" });
    expect(s.status.code).toBe(OTLP_STATUS.UNSET);
    expect(s.resource["service.name"]).toBe("tei-router-grpc-test");
    expect(s.attributes).toMatchObject({
      "rpc.system": "grpc",
      "rpc.service": "tei.v1.Embed",
      "rpc.method": "Embed",
      "rpc.grpc.status_code": 0,
      "server.address": "127.0.0.1",
    });
    const tei = teis.find((t) => t.port === s.attributes["server.port"]) as RecordingTei;
    expect(s.attributes["tei.instance"]).toBe(`small-${teis.indexOf(tei)}`);
    expect(s.attributes["tei.node"]).toBe(`node-${teis.indexOf(tei)}`);
    expect(received.get("plain")?.traceparent).toBe(`00-${s.traceId}-${s.spanId}-01`);
    expect(receiver.spans.filter((x) => x.traceId === s.traceId)).toHaveLength(1);
  });

  test("a call with a traceparent continues its trace: the span's parent is the caller's, TEI gets the router's span id and the tracestate", () => {
    const s = spanOfCall(receiver.spans, received.get("parented"));
    expect(s.traceId).toBe(TRACE_ID);
    expect(s.parentSpanId).toBe(CALLER_SPAN);
    expect(s.traceState).toBe("vendor=abc");
    expect(received.get("parented")).toEqual({ input: "parented", traceparent: `00-${TRACE_ID}-${s.spanId}-01`, tracestate: "vendor=abc" });
  });

  test("a malformed traceparent is dropped with its tracestate: a new trace, TEI gets only the router's", () => {
    const s = spanOfCall(receiver.spans, received.get("malformed"));
    expect(s.parentSpanId).toBe("");
    expect(received.get("malformed")).toEqual({ input: "malformed", traceparent: `00-${s.traceId}-${s.spanId}-01`, tracestate: null });
  });

  test("TEI refusing the input (the caller's mistake) is no error span; its status code is recorded", () => {
    expect(codes.get("fail")).toBe(Code.InvalidArgument);
    const s = spanOfCall(receiver.spans, received.get("fail"));
    expect(s.attributes["rpc.grpc.status_code"]).toBe(Code.InvalidArgument);
    expect(s.status.code).toBe(OTLP_STATUS.UNSET);
  });

  test("a multiplexer call is named by the method the caller called", () => {
    expect(codes.get("mux")).toBe("ok");
    const s = spanOfCall(receiver.spans, received.get("mux"));
    expect(s.name).toBe("tei_multiplexer.v1.TeiMultiplexer/Embed");
    expect(s.attributes).toMatchObject({ "rpc.service": "tei_multiplexer.v1.TeiMultiplexer", "rpc.method": "Embed", "tei.instance": "small-0" });
  });

  test("an EmbedArrow call is one SERVER span; every row's TEI call carries its traceparent", () => {
    expect(codes.get("arrow-1")).toBe("ok");
    const rows = teis.flatMap((t, i) => t.calls.slice(arrowBefore[i]).filter((c) => c.input.startsWith("arrow-")));
    expect(rows.map((r) => r.input).sort()).toEqual(["arrow-1", "arrow-2", "arrow-3"]);
    const s = spanOfCall(receiver.spans, rows[0]);
    expect(s).toMatchObject({ name: "tei_multiplexer.v1.TeiMultiplexer/EmbedArrow", kind: OTLP_KIND.SERVER, traceId: TRACE_ID, parentSpanId: CALLER_SPAN });
    expect(s.attributes["rpc.grpc.status_code"]).toBe(0);
    expect(new Set(rows.map((r) => r.traceparent))).toEqual(new Set([`00-${TRACE_ID}-${s.spanId}-01`]));
  });

  test("replicas that are down: an error span with TEI's status and message, retried on the other replica", () => {
    expect(codes.get("down")).toBe(Code.Unavailable);
    const s = spanOfCall(receiver.spans, received.get("down"));
    expect(s.status).toEqual({ code: OTLP_STATUS.ERROR, message: "UNAVAILABLE: Model is not healthy" });
    expect(s.attributes).toMatchObject({ "rpc.grpc.status_code": Code.Unavailable, "error.type": "UNAVAILABLE", "tei.retried": true });
  });
});

describe("without an OTLP endpoint, a call's trace context reaches TEI as it came", () => {
  test("traceparent and tracestate unchanged, malformed or not; none added without", async () => {
    const tei = await startRecordingTei();
    const fx = await startLoggingGateway([route("small", tei.address)], {}, [], "tei-grpc-untraced-test-");
    try {
      const embed = createClient(Embed, createGrpcTransport({ baseUrl: fx.grpc }));
      const headers = { "x-tei-instance": "small" };
      await embed.embed({ inputs: "a" }, { headers: { ...headers, traceparent: CALLER_TRACEPARENT, tracestate: "vendor=abc" } });
      await embed.embed({ inputs: "b" }, { headers: { ...headers, traceparent: "00-not-a-trace-01" } });
      await embed.embed({ inputs: "c" }, { headers });
      expect(tei.calls).toEqual([
        { input: "a", traceparent: CALLER_TRACEPARENT, tracestate: "vendor=abc" },
        { input: "b", traceparent: "00-not-a-trace-01", tracestate: null },
        { input: "c", traceparent: null, tracestate: null },
      ]);
    } finally {
      await fx.close();
      await tei.close();
    }
  });
});
