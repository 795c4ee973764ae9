/**
 * Trace context toward catalog backends reached over HTTP (the world is remote-tei-fixture.ts):
 * with tracing off the client's `traceparent` and `tracestate` go to the remote unchanged; with
 * it on, each upstream call is a CLIENT span whose context the remote receives, and the key is
 * in no span.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { post } from "../gateway/gateway-fixture.ts";
import { OTLP_KIND, OTLP_STATUS, type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "../support/otlp-receiver.ts";
import {
  answered,
  callsDuring,
  downPort,
  expectKeyNeverLeaked,
  KEY,
  register,
  remote,
  type Seen,
  startFleetGateway,
  useRemoteTei,
  viaFleet,
} from "./remote-tei-fixture.ts";

useRemoteTei();

describe("trace context upstream", () => {
  const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
  const CLIENT_SPAN = "00f067aa0ba902b7";

  test("with tracing off the client's traceparent and tracestate go upstream unchanged, none without", async () => {
    const tp = `00-${TRACE_ID}-${CLIENT_SPAN}-01`;
    const withTp = await callsDuring(() => viaFleet("/embed", { model: "far-embed", inputs: "a" }, { traceparent: tp, tracestate: "k=v" }));
    expect(withTp.map((c) => [c.headers.traceparent, c.headers.tracestate])).toEqual([[tp, "k=v"]]);
    const without = await callsDuring(() => viaFleet("/embed", { model: "far-embed", inputs: "a" }));
    expect(without.map((c) => c.headers.traceparent)).toEqual([undefined]);
    const bad = await callsDuring(() => viaFleet("/embed", { model: "far-embed", inputs: "a" }, { traceparent: "garbage" }));
    expect(bad.map((c) => c.headers.traceparent)).toEqual([undefined]);
  });

  describe("with tracing on", () => {
    let receiver: OtlpReceiver;
    const traced: string[] = [];
    const callsOf = new Map<string, Seen[]>();
    const answers = new Map<string, number>();

    beforeAll(async () => {
      receiver = await startOtlpReceiver();
      const gw = await startFleetGateway({ otlpEndpoint: `${receiver.url}/v1/traces` }, traced);
      register(gw.router, remote, downPort);
      const send = async (id: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
        callsOf.set(
          id,
          await callsDuring(async () => {
            const h = { "x-request-id": id, ...headers };
            if (body === null) {
              const r = await fetch(`${gw.http}${path}`, { headers: h });
              answered.push(await r.text());
              answers.set(id, r.status);
              return;
            }
            const r = await post(`${gw.http}${path}`, body, h);
            answered.push(r.text);
            answers.set(id, r.status);
          }),
        );
      };
      try {
        await send("one", "/embed", { model: "far-embed", inputs: "a" }, { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN}-01`, tracestate: "vendor=abc" });
        await send("split", "/v1/embeddings", { model: "far-embed", input: Array.from({ length: 9 }, (_, i) => `s${i}`) });
        await send("refused", "/embed", { model: "far-embed", inputs: "x".repeat(600), truncate: false });
        await send("down", "/embed", { model: "far-down", inputs: "x" });
        await send("info", "/info", null, { "x-tei-model": "far-embed" });
      } finally {
        await gw.close();
      }
    }, 60_000);
    afterAll(async () => {
      await receiver?.close();
    });

    const serverSpan = (id: string): ReceivedSpan => {
      const s = receiver.spans.filter((x) => x.kind === OTLP_KIND.SERVER && x.attributes["tei.request_id"] === id);
      expect(s).toHaveLength(1);
      return s[0] as ReceivedSpan;
    };
    const childrenOf = (s: ReceivedSpan): ReceivedSpan[] => receiver.spans.filter((x) => x.parentSpanId === s.spanId);
    const traceparentOf = (s: ReceivedSpan): string => `00-${s.traceId}-${s.spanId}-01`;

    test("a CLIENT span per upstream call with the HTTP client attributes; the remote gets its traceparent and the client's tracestate", () => {
      expect(answers.get("one")).toBe(200);
      const server = serverSpan("one");
      expect(server).toMatchObject({ traceId: TRACE_ID, parentSpanId: CLIENT_SPAN });
      expect(server.attributes["tei.backend"]).toBe("far-embed");
      const children = childrenOf(server);
      expect(children).toHaveLength(1);
      const call = children[0] as ReceivedSpan;
      expect(call).toMatchObject({ name: "POST /embed", kind: OTLP_KIND.CLIENT, traceId: TRACE_ID });
      expect(call.status.code).toBe(OTLP_STATUS.UNSET);
      expect(call.attributes).toEqual({
        "http.request.method": "POST",
        "url.full": `${remote.url}/embed/embed`,
        "server.address": "127.0.0.1",
        "server.port": remote.port,
        "http.response.status_code": 200,
        "tei.backend": "far-embed",
      });
      expect(callsOf.get("one")?.map((c) => [c.headers.traceparent, c.headers.tracestate])).toEqual([[traceparentOf(call), "vendor=abc"]]);
    });

    test("a split request: one span per chunk, each call carrying its own span; the /info the split needed is no span", () => {
      expect(answers.get("split")).toBe(200);
      const server = serverSpan("split");
      expect(server.attributes).toMatchObject({ "tei.inputs": 9, "tei.chunks": 3, "tei.calls": 3 });
      const children = childrenOf(server);
      expect(children.map((c) => c.name)).toEqual(["POST /embed", "POST /embed", "POST /embed"]);
      const embeds = (callsOf.get("split") ?? []).filter((c) => c.path === "/embed");
      expect(embeds.map((c) => c.headers.traceparent).sort()).toEqual(children.map(traceparentOf).sort());
      for (const c of (callsOf.get("split") ?? []).filter((x) => x.path === "/info")) expect(c.headers.traceparent).toBeUndefined();
    });

    test("a refused call and an unreachable backend are error spans; GET /info is traced as a GET", () => {
      expect([answers.get("refused"), answers.get("down"), answers.get("info")]).toEqual([422, 502, 200]);
      const refused = childrenOf(serverSpan("refused"));
      expect(refused).toHaveLength(1);
      expect(refused[0]?.status.code).toBe(OTLP_STATUS.ERROR);
      expect(refused[0]?.attributes).toMatchObject({ "http.response.status_code": 422, "error.type": "422" });
      const down = childrenOf(serverSpan("down"));
      expect(down).toHaveLength(1);
      expect(down[0]?.status.code).toBe(OTLP_STATUS.ERROR);
      expect(down[0]?.attributes["http.response.status_code"]).toBeUndefined();
      expect(down[0]?.attributes["error.type"]).toEqual(expect.stringMatching(/ECONNREFUSED|_OTHER|Error/));
      expect(down[0]?.attributes["server.port"]).toBe(downPort);
      const info = childrenOf(serverSpan("info"));
      expect(info.map((s) => [s.name, s.attributes["http.request.method"], s.attributes["url.full"]])).toEqual([
        ["GET /info", "GET", `${remote.url}/embed/info`],
      ]);
    });

    test("no span, log line or answer holds the upstream key", () => {
      expect(JSON.stringify(receiver.spans)).not.toContain(KEY);
      expect(traced.join("\n")).not.toContain(KEY);
    });
  });
});

test("the upstream key never appears in the fleet's log lines or answers", expectKeyNeverLeaked);
