/**
 * OpenTelemetry tracing of the HTTP gateway: with an OTLP endpoint, a SERVER span per request
 * and a CLIENT span per TEI call, exported over OTLP/HTTP (JSON) to a receiver started here, the
 * `traceparent` TEI receives naming the call's span; without one, nothing is exported and the
 * client's `traceparent` reaches TEI as it came. TEI is a small connect-node stand-in that
 * records every call's trace metadata.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { freePort } from "../../../test/harness/free-port.ts";
import { resolveRouterConfig } from "../../src/cli.ts";
import type { RouteInput, RouterConfigInput } from "../../src/index.ts";
import { startLoggingGateway } from "../support/logging-gateway.ts";
import { OTLP_KIND, OTLP_STATUS, type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "../support/otlp-receiver.ts";
import { RECORDING_TEI_MODEL as MODEL, type ReceivedCall, type RecordingTei, startRecordingTei } from "../support/recording-tei.ts";
import { post, route } from "./gateway-fixture.ts";

/** A router with its gateway over a routes file, logging into `lines`. */
function startTracedGateway(routes: RouteInput[], config: Partial<RouterConfigInput>, lines: string[]) {
  return startLoggingGateway(routes, config, lines, "tei-tracing-test-");
}

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN = "00f067aa0ba902b7";

/** The spans of a trace, and its SERVER span (exactly one). */
function traceOf(spans: ReceivedSpan[], traceId: string): { server: ReceivedSpan; children: ReceivedSpan[] } {
  const all = spans.filter((s) => s.traceId === traceId);
  const servers = all.filter((s) => s.kind === OTLP_KIND.SERVER);
  expect(servers).toHaveLength(1);
  const server = servers[0] as ReceivedSpan;
  return { server, children: all.filter((s) => s !== server) };
}

/** The SERVER span whose request had `x-request-id: id`. */
function requestSpan(spans: ReceivedSpan[], id: string): ReceivedSpan {
  const found = spans.filter((s) => s.kind === OTLP_KIND.SERVER && s.attributes["tei.request_id"] === id);
  expect(found).toHaveLength(1);
  return found[0] as ReceivedSpan;
}

/** `00-<trace>-<span>-01`, as TEI must receive it for a sampled call span. */
const traceparentOf = (s: ReceivedSpan): string => `00-${s.traceId}-${s.spanId}-01`;

describe("with an OTLP endpoint, gateway requests are exported as spans", () => {
  let receiver: OtlpReceiver;
  let teis: RecordingTei[];
  const lines: string[] = [];
  const answers = new Map<string, { status: number; body: unknown }>();
  /** The calls each request made, by its x-request-id. */
  const callsOf = new Map<string, ReceivedCall[]>();
  let stoppedInMs = 0;
  const savedHeaders = process.env.OTEL_EXPORTER_OTLP_HEADERS;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    teis = await Promise.all([startRecordingTei(), startRecordingTei()]);
    // The exporter reads OpenTelemetry's header variable itself: it must reach the collector, and never the log.
    process.env.OTEL_EXPORTER_OTLP_HEADERS = "authorization=Bearer otlp-secret-token";
    const fx = await startTracedGateway(
      teis.map((t, i) => route(`small-${i}`, t.address, { assignmentId: `a${i}`, node: `node-${i}`, replica: i })),
      { otlpEndpoint: `${receiver.url}/v1/traces`, otelServiceName: "tei-router-test" },
      lines,
    );
    const send = async (id: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
      const before = teis.map((t) => t.calls.length);
      const r = await post(`${fx.http}${path}`, body, { "x-request-id": id, ...headers });
      answers.set(id, { status: r.status, body: r.body });
      callsOf.set(
        id,
        teis.flatMap((t, i) => t.calls.slice(before[i])),
      );
    };
    try {
      // The first request makes the gateway ask the model's Info (max_client_batch_size 2), in the background.
      await send("warm", "/embed", { inputs: "warm" });
      for (let i = 0; i < 100 && teis.every((t) => t.infoCalls === 0); i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 50));
      await send("plain", "/v1/embeddings", { input: "hello" });
      await send("parented", "/embed", { inputs: "with a parent" }, { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN}-01`, tracestate: "vendor=abc" });
      await send("batch", "/v1/embeddings", { input: ["a", "b", "c", "d", "e", "f"] });
      await send("unknown-model", "/v1/embeddings", { model: "no-such-model", input: "x" });
      await send("refused", "/embed", { inputs: ["ok", "fail"] });
      await send("unsampled", "/embed", { inputs: "not sampled" }, { traceparent: `00-${"ab".repeat(16)}-${"cd".repeat(8)}-00` });
      for (const t of teis) t.unavailable = true;
      await send("unavailable", "/embed", { inputs: "down" });
      for (const t of teis) t.unavailable = false;
      const nope = await fetch(`${fx.http}/no/such/path`);
      answers.set("no-path", { status: nope.status, body: await nope.text() });
    } finally {
      // Spans are sent in batches every 5 s: these go on the stop, which must flush them.
      const t0 = performance.now();
      await fx.close();
      stoppedInMs = performance.now() - t0;
    }
  }, 60_000);
  afterAll(async () => {
    if (savedHeaders === undefined) delete process.env.OTEL_EXPORTER_OTLP_HEADERS;
    else process.env.OTEL_EXPORTER_OTLP_HEADERS = savedHeaders;
    await receiver?.close();
    await Promise.all((teis ?? []).map((t) => t.close()));
  });

  test("the stop flushes every span, under the service's resource, with the exporter's headers; the log says where, never the headers", () => {
    expect(answers.get("plain")?.status).toBe(200);
    expect(stoppedInMs).toBeLessThan(3000);
    expect(receiver.spans.length).toBeGreaterThan(0);
    const s = receiver.spans[0] as ReceivedSpan;
    expect(s.resource["service.name"]).toBe("tei-router-test");
    expect(s.resource["service.instance.id"]).toEqual(expect.any(String));
    expect(s.scope).toBe("tei-router/gateway");
    expect(receiver.requests[0]?.authorization).toBe("Bearer otlp-secret-token");
    expect(receiver.requests[0]?.["content-type"]).toBe("application/json");
    const log = lines.join("\n");
    expect(log).toContain(`"endpoint":"${receiver.url}/v1/traces"`);
    expect(log).not.toContain("otlp-secret-token");
    expect(log).not.toMatch(/could not be exported/);
  });

  test("a request without traceparent: a new trace, a SERVER span with the HTTP attributes, one CLIENT span whose context TEI received", () => {
    const server = requestSpan(receiver.spans, "plain");
    expect(server.name).toBe("POST /v1/embeddings");
    expect(server.parentSpanId).toBe("");
    expect(server.status.code).toBe(OTLP_STATUS.UNSET);
    expect(server.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.route": "/v1/embeddings",
      "http.response.status_code": 200,
      "url.path": "/v1/embeddings",
      "url.scheme": "http",
      "network.protocol.version": "1.1",
      "tei.model": MODEL,
      "tei.model_id": MODEL,
      "tei.inputs": 1,
      "tei.chunks": 1,
      "tei.calls": 1,
    });
    expect(String(server.attributes["tei.instance"])).toMatch(/^small-[01]$/);
    expect(String(server.attributes["tei.node"])).toMatch(/^node-[01]$/);
    const { children } = traceOf(receiver.spans, server.traceId);
    expect(children).toHaveLength(1);
    const call = children[0] as ReceivedSpan;
    expect(call).toMatchObject({ name: "tei.v1.Embed/Embed", kind: OTLP_KIND.CLIENT, parentSpanId: server.spanId });
    expect(call.attributes).toMatchObject({
      "rpc.system": "grpc",
      "rpc.service": "tei.v1.Embed",
      "rpc.method": "Embed",
      "rpc.grpc.status_code": 0,
      "server.address": "127.0.0.1",
    });
    const tei = teis.find((t) => t.port === call.attributes["server.port"]);
    expect(tei).toBeDefined();
    expect(call.attributes["tei.instance"]).toBe(`small-${teis.indexOf(tei as RecordingTei)}`);
    expect(callsOf.get("plain")?.map((c) => c.traceparent)).toEqual([traceparentOf(call)]);
  });

  test("a request with a traceparent continues its trace: the SERVER span's parent is the client's span, TEI gets the CLIENT span's id and the tracestate", () => {
    const server = requestSpan(receiver.spans, "parented");
    expect(server.traceId).toBe(TRACE_ID);
    expect(server.parentSpanId).toBe(CLIENT_SPAN);
    expect(server.traceState).toBe("vendor=abc");
    expect(server.name).toBe("POST /embed");
    const { children } = traceOf(receiver.spans, TRACE_ID);
    expect(children).toHaveLength(1);
    const call = children[0] as ReceivedSpan;
    expect(call.parentSpanId).toBe(server.spanId);
    expect(call.spanId).not.toBe(CLIENT_SPAN);
    expect(callsOf.get("parented")).toEqual([{ input: "with a parent", traceparent: `00-${TRACE_ID}-${call.spanId}-01`, tracestate: "vendor=abc" }]);
    // The request's log line names both the client's traceparent and the router's span.
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg === "http request" && l.requestId === "parented");
    expect(line).toMatchObject({ traceparent: `00-${TRACE_ID}-${CLIENT_SPAN}-01`, traceId: TRACE_ID, spanId: server.spanId });
  });

  test("a batch split over both replicas: one CLIENT span per TEI call, each call carrying its own span's traceparent", () => {
    expect(answers.get("batch")?.status).toBe(200);
    const server = requestSpan(receiver.spans, "batch");
    expect(server.attributes).toMatchObject({ "tei.inputs": 6, "tei.chunks": 3, "tei.calls": 6 });
    const { children } = traceOf(receiver.spans, server.traceId);
    expect(children).toHaveLength(6);
    for (const c of children) expect(c).toMatchObject({ kind: OTLP_KIND.CLIENT, parentSpanId: server.spanId, name: "tei.v1.Embed/Embed" });
    expect(new Set(children.map((c) => c.spanId)).size).toBe(6);
    expect(new Set(children.map((c) => c.attributes["server.port"]))).toEqual(new Set(teis.map((t) => t.port)));
    const received = callsOf.get("batch") ?? [];
    expect(received.map((c) => c.input).sort()).toEqual(["a", "b", "c", "d", "e", "f"]);
    expect(received.map((c) => c.traceparent).sort()).toEqual(children.map(traceparentOf).sort());
    // Each span names the replica that took its call.
    for (const c of children) {
      const tei = teis.find((t) => t.port === c.attributes["server.port"]) as RecordingTei;
      expect(tei.calls.some((k) => k.traceparent === traceparentOf(c))).toBe(true);
    }
  });

  test("an unknown model: the SERVER span has its 404 and the gateway's code (a client's 4xx is not the server's error), the call that found no replica an error span", () => {
    expect(answers.get("unknown-model")?.status).toBe(404);
    const server = requestSpan(receiver.spans, "unknown-model");
    expect(server.attributes).toMatchObject({ "http.response.status_code": 404, "tei.error.code": "model_not_found", "tei.model": "no-such-model" });
    expect(server.status.code).toBe(OTLP_STATUS.UNSET);
    expect(server.attributes["error.type"]).toBeUndefined();
    const { children } = traceOf(receiver.spans, server.traceId);
    expect(children).toHaveLength(1);
    expect(children[0]?.status).toEqual({ code: OTLP_STATUS.ERROR, message: 'NOT_FOUND: no instance serves model "no-such-model"' });
    expect(children[0]?.attributes).toMatchObject({ "rpc.grpc.status_code": 5, "error.type": "NOT_FOUND" });
    expect(children[0]?.attributes["server.address"]).toBeUndefined();
    expect(callsOf.get("unknown-model")).toEqual([]);
  });

  test("a call TEI refuses is an error CLIENT span with TEI's status and message; the other call's span is OK or cancelled", () => {
    expect(answers.get("refused")?.status).toBe(422);
    const server = requestSpan(receiver.spans, "refused");
    expect(server.attributes).toMatchObject({ "http.response.status_code": 422, "tei.error.code": "Validation" });
    expect(server.status.code).toBe(OTLP_STATUS.UNSET);
    const { children } = traceOf(receiver.spans, server.traceId);
    expect(children).toHaveLength(2);
    const failed = children.filter((c) => c.attributes["rpc.grpc.status_code"] === 3);
    expect(failed).toHaveLength(1);
    expect(failed[0]?.status).toEqual({ code: OTLP_STATUS.ERROR, message: "INVALID_ARGUMENT: Input validation error: refused by the test" });
    expect(failed[0]?.attributes["error.type"]).toBe("INVALID_ARGUMENT");
    const other = children.find((c) => c !== failed[0]) as ReceivedSpan;
    expect([0, 1]).toContain(other.attributes["rpc.grpc.status_code"]);
  });

  test("replicas that are down: the 503 is an error SERVER span, its call an error CLIENT span retried on the other replica", () => {
    expect(answers.get("unavailable")?.status).toBe(503);
    const server = requestSpan(receiver.spans, "unavailable");
    expect(server.status.code).toBe(OTLP_STATUS.ERROR);
    expect(server.status.message).toContain("not healthy");
    expect(server.attributes).toMatchObject({ "http.response.status_code": 503, "error.type": "503", "tei.error.code": "unavailable" });
    const { children } = traceOf(receiver.spans, server.traceId);
    expect(children).toHaveLength(1);
    expect(children[0]?.status.code).toBe(OTLP_STATUS.ERROR);
    expect(children[0]?.attributes).toMatchObject({ "rpc.grpc.status_code": 14, "error.type": "UNAVAILABLE", "tei.retried": true });
    // The attempt's retry goes out with the same span: both replicas saw it.
    const received = callsOf.get("unavailable") ?? [];
    expect(received.map((c) => c.traceparent)).toEqual([traceparentOf(children[0] as ReceivedSpan), traceparentOf(children[0] as ReceivedSpan)]);
  });

  test("an unsampled traceparent: no span exported, the trace still carried to TEI with the router's span id, unsampled", () => {
    expect(answers.get("unsampled")?.status).toBe(200);
    expect(receiver.spans.filter((s) => s.traceId === "ab".repeat(16))).toEqual([]);
    const tp = callsOf.get("unsampled")?.[0]?.traceparent ?? "";
    expect(tp).toMatch(new RegExp(`^00-${"ab".repeat(16)}-[0-9a-f]{16}-00$`));
    expect(tp).not.toContain("cd".repeat(8));
  });

  test("a path no route takes is a SERVER span named by its method alone", () => {
    expect(answers.get("no-path")?.status).toBe(404);
    const found = receiver.spans.filter((s) => s.attributes["url.path"] === "/no/such/path");
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ name: "GET", kind: OTLP_KIND.SERVER });
    expect(found[0]?.attributes).toMatchObject({ "http.request.method": "GET", "http.response.status_code": 404, "tei.error.code": "unknown_url" });
    expect(found[0]?.attributes["http.route"]).toBeUndefined();
  });

  test("the model's Info, asked in the background, is no span of any request", () => {
    expect(receiver.spans.filter((s) => s.name.startsWith("tei.v1.Info"))).toEqual([]);
    for (const c of receiver.spans.filter((s) => s.kind === OTLP_KIND.CLIENT)) {
      expect(receiver.spans.some((s) => s.kind === OTLP_KIND.SERVER && s.spanId === c.parentSpanId)).toBe(true);
    }
  });
});

describe("without an OTLP endpoint nothing is traced, and a traceparent passes to TEI unchanged", () => {
  let tei: RecordingTei;
  beforeAll(async () => {
    tei = await startRecordingTei();
  });
  afterAll(async () => {
    await tei?.close();
  });

  test("no endpoint configured (nor OpenTelemetry's variables): TEI gets the client's traceparent and tracestate as sent, none without", async () => {
    const config = resolveRouterConfig({ routesFile: "r.json" }, {});
    expect(config.otlpEndpoint).toBeUndefined();
    const lines: string[] = [];
    const fx = await startTracedGateway([route("small", tei.address)], {}, lines);
    try {
      const tp = `00-${TRACE_ID}-${CLIENT_SPAN}-01`;
      expect((await post(`${fx.http}/embed`, { inputs: "a" }, { traceparent: tp, tracestate: "k=v", "x-request-id": "off" })).status).toBe(200);
      expect((await post(`${fx.http}/embed`, { inputs: "b" })).status).toBe(200);
      expect(tei.calls.find((c) => c.input === "a")).toMatchObject({ traceparent: tp, tracestate: "k=v" });
      expect(tei.calls.find((c) => c.input === "b")).toMatchObject({ traceparent: null, tracestate: null });
      const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg === "http request" && l.requestId === "off");
      expect(line.traceparent).toBe(tp);
      expect(line.traceId).toBeUndefined();
    } finally {
      await fx.close();
    }
    expect(lines.filter((l) => /^tracing/.test(JSON.parse(l).msg))).toEqual([]);
  });
});

describe("the OpenTelemetry SDK is loaded only with an endpoint", () => {
  const SERVER = fileURLToPath(new URL("../../src/server.ts", import.meta.url));
  const CONFIG = fileURLToPath(new URL("../../src/config.ts", import.meta.url));
  // Runs in a child: counts the resolutions of the SDK's modules (and the router's module over
  // them) while a router with its gateway starts and stops. Not @opentelemetry/api alone:
  // prom-client looks for it (for exemplars) in every router.
  const script = (routesFile: string, extra: string): string => `
import { registerHooks } from "node:module";
let otel = 0;
const SDK = /@opentelemetry\\/(sdk-trace|exporter-trace-otlp-http|resources|semantic-conventions)|otlp-tracing/;
registerHooks({ resolve(spec, ctx, next) { if (SDK.test(spec)) otel++; return next(spec, ctx); } });
const { createRouter } = await import(${JSON.stringify(SERVER)});
const { parseRouterConfig } = await import(${JSON.stringify(CONFIG)});
const { pino } = await import("pino");
const r = createRouter(parseRouterConfig({ listen: "127.0.0.1:0", metricsListen: "127.0.0.1:0", httpListen: "127.0.0.1:0", shutdownGraceMs: 50, routesFile: ${JSON.stringify(routesFile)}${extra} }), { log: pino({ level: "silent" }) });
await r.start();
await r.stop();
console.log(JSON.stringify({ otel }));
`;

  test("a router with its gateway and no endpoint never resolves an OpenTelemetry module; with one it does", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tei-router-otel-"));
    try {
      const routesFile = join(dir, "routes.json");
      await writeFile(routesFile, JSON.stringify({ version: 1, routes: [] }));
      const run = async (extra: string): Promise<{ otel: number }> => {
        const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script(routesFile, extra)], {
          cwd: fileURLToPath(new URL("../..", import.meta.url)),
          timeout: 30_000,
        });
        return JSON.parse(stdout.trim().split("\n").pop() as string);
      };
      expect(await run("")).toEqual({ otel: 0 });
      expect((await run(`, otlpEndpoint: "http://127.0.0.1:9/v1/traces"`)).otel).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the collector's trouble never reaches a request", () => {
  let tei: RecordingTei;
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    [tei, receiver] = await Promise.all([startRecordingTei(), startOtlpReceiver()]);
  });
  afterAll(async () => {
    await tei?.close();
    await receiver?.close();
  });

  test("a collector refusing every export: requests served, one warning naming the endpoint", async () => {
    receiver.status = 400;
    const lines: string[] = [];
    const fx = await startTracedGateway([route("small", tei.address)], { otlpEndpoint: `${receiver.url}/v1/traces` }, lines);
    try {
      for (let i = 0; i < 3; i++) expect((await post(`${fx.http}/embed`, { inputs: `x${i}` })).status).toBe(200);
    } finally {
      await fx.close();
    }
    expect(receiver.requests.length).toBeGreaterThan(0);
    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => /could not be exported/.test(l.msg));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, endpoint: `${receiver.url}/v1/traces` });
  });

  test("no collector at all: requests served, and the stop waits for it at most a few seconds", async () => {
    const lines: string[] = [];
    const fx = await startTracedGateway([route("small", tei.address)], { otlpEndpoint: `http://127.0.0.1:${await freePort()}/v1/traces` }, lines);
    let ms = 0;
    try {
      for (let i = 0; i < 3; i++) expect((await post(`${fx.http}/embed`, { inputs: `y${i}` })).status).toBe(200);
    } finally {
      const t0 = performance.now();
      await fx.close();
      ms = performance.now() - t0;
    }
    expect(ms).toBeLessThan(4500);
    expect(lines.some((l) => /tracing: /.test(l) && JSON.parse(l).level >= 40)).toBe(true);
  }, 20_000);
});
