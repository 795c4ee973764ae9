/**
 * Issue 9, defect 2: a client must not be able to get healthy backends ejected. Malformed
 * requests (RFC 9113 §8.2, §8.3) are refused by the router with RST_STREAM(PROTOCOL_ERROR) and
 * never forwarded, and a backend's own PROTOCOL_ERROR reset (the request's fault, RFC 9113
 * §8.1.1) is neither counted toward ejection nor retried.
 */

import { createServer as createH2Server, constants as h2constants } from "node:http2";
import type { AddressInfo } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Embed, EmbedRequestSchema } from "@tei-fleet/proto/tei/v1";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { freePort } from "../../test/harness/free-port.ts";
import { ErrorCode, headerValue } from "../src/h2/index.ts";
import { FakeControlPlane, JOIN_TOKEN } from "./support/fake-control-plane.ts";
import { type FakeTeiProcess, startFakeTei } from "./support/fake-tei.ts";
import { H2SocketClient, type RawRequest } from "./support/h2-socket-client.ts";
import { frame } from "./support/raw-client.ts";
import { metric, type RunningRouter, route, startRouter, startWatchingRouter } from "./support/router-fixture.ts";
import { startTestBackend } from "./support/tei-backend.ts";
import { until } from "./support/until.ts";

const BGE = "BAAI/bge-small-en-v1.5";
const EMBED = "/tei.v1.Embed/Embed";
const BODY = frame(toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs: "hello" })));
const PSEUDO = [":method", "POST", ":scheme", "http", ":path", EMBED, ":authority", "127.0.0.1"];
const REGULAR = ["content-type", "application/grpc", "te", "trailers", "x-tei-model", BGE];

/** A well-formed gRPC request with `extra` fields appended. */
const request = (...extra: string[]): RawRequest => ({ headers: [...PSEUDO, ...REGULAR, ...extra], body: BODY });
/** The well-formed request without the pseudo-header `name`. */
const without = (name: string): RawRequest => {
  const i = PSEUDO.indexOf(name);
  return { headers: [...PSEUDO.slice(0, i), ...PSEUDO.slice(i + 2), ...REGULAR], body: BODY };
};
/** The well-formed request with pseudo-header `name` set to `value`. */
const withPseudo = (name: string, value: string): RawRequest => {
  const headers = [...PSEUDO, ...REGULAR];
  headers[headers.indexOf(name) + 1] = value;
  return { headers, body: BODY };
};

/** Every kind of malformed request, each named by what is wrong with it. */
const MALFORMED: [string, RawRequest][] = [
  ["an uppercase field name", request("X-Trace-Id", "1")],
  ["an uppercase gRPC metadata key", request("Grpc-Accept-Encoding", "identity")],
  ["a field name with a character outside the token set", request("x-a(b)", "1")],
  ["a field name with a space", request("x a", "1")],
  ["a regular field name with a colon", request("x:a", "1")],
  ["an empty field name", request("", "1")],
  ["connection", request("connection", "keep-alive")],
  ["keep-alive", request("keep-alive", "timeout=5")],
  ["proxy-connection", request("proxy-connection", "keep-alive")],
  ["transfer-encoding", request("transfer-encoding", "chunked")],
  ["upgrade", request("upgrade", "h2c")],
  ["te other than trailers", { headers: [...PSEUDO, "content-type", "application/grpc", "te", "gzip", "x-tei-model", BGE], body: BODY }],
  ["te listing more than trailers", { headers: [...PSEUDO, "content-type", "application/grpc", "te", "trailers, deflate", "x-tei-model", BGE], body: BODY }],
  ["a value with NUL", request("x-a", "a\u0000b")],
  ["a value with CR", request("x-a", "a\rb")],
  ["a value with LF", request("x-a", "a\nb")],
  ["a value with another control character", request("x-a", "a\u0001b")],
  ["a value with leading whitespace", request("x-a", " a")],
  ["a value with trailing whitespace", request("x-a", "a\t")],
  ["a pseudo-header after a regular field", { headers: [...PSEUDO.slice(0, 6), ...REGULAR, ...PSEUDO.slice(6)], body: BODY }],
  ["a duplicate :path", { headers: [...PSEUDO, ":path", EMBED, ...REGULAR], body: BODY }],
  ["an unknown pseudo-header", { headers: [...PSEUDO, ":foo", "bar", ...REGULAR], body: BODY }],
  [":protocol without extended CONNECT", { headers: [...PSEUDO, ":protocol", "websocket", ...REGULAR], body: BODY }],
  ["the response pseudo-header :status", { headers: [...PSEUDO, ":status", "200", ...REGULAR], body: BODY }],
  ["no :method", without(":method")],
  ["no :scheme", without(":scheme")],
  ["no :path", without(":path")],
  ["an empty :path", withPseudo(":path", "")],
  ["a pseudo-header in the trailers", { ...request(), trailers: [":path", EMBED] }],
  ["an uppercase name in the trailers", { ...request(), trailers: ["X-Trailer", "1"] }],
];

describe("malformed requests through a router in front of two TEIs", () => {
  let teis: FakeTeiProcess[];
  let cp: FakeControlPlane;
  let fx: RunningRouter;
  let raw: H2SocketClient;

  beforeAll(async () => {
    teis = await Promise.all([startFakeTei(BGE), startFakeTei(BGE)]);
    cp = new FakeControlPlane(await freePort());
    cp.publish(
      1,
      teis.map((t, i) => ({ name: `bge-${i + 1}`, address: t.address, modelId: BGE, node: `node-${i + 1}` })),
    );
    await cp.start();
    fx = await startWatchingRouter(`http://127.0.0.1:${cp.port}`, JOIN_TOKEN);
    await until(() => fx.router.table.size === 2);
    raw = await H2SocketClient.connect(fx.port);
  });
  afterAll(async () => {
    raw?.close();
    await fx?.close();
    await cp?.stop();
    await Promise.all((teis ?? []).map((t) => t.kill("SIGKILL")));
  });

  test("the well-formed request, sent the same raw way, is answered", async () => {
    const answer = await raw.request(request());
    expect(headerValue(answer.headers ?? [], ":status")).toBe("200");
    expect(headerValue(answer.trailers ?? [], "grpc-status")).toBe("0");
  });

  test.each(MALFORMED)("%s: the stream is reset with PROTOCOL_ERROR, the connection lives on", async (_name, req) => {
    expect(await raw.request(req)).toEqual({ reset: ErrorCode.PROTOCOL_ERROR });
    const after = await raw.request(request());
    expect(headerValue(after.trailers ?? [], "grpc-status")).toBe("0");
  });

  test("after many malformed requests every normal call succeeds and no replica is ejected or reported", async () => {
    const before = await metric(fx, "tei_router_malformed_requests_total");
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => MALFORMED.map(([, req]) => raw.request(req))).flat());
    expect(outcomes.every((o) => o.reset === ErrorCode.PROTOCOL_ERROR)).toBe(true);
    expect(await metric(fx, "tei_router_malformed_requests_total")).toBe(before + 5 * MALFORMED.length);

    const client = fx.client(Embed);
    const failures: string[] = [];
    for (let i = 0; i < 20; i++) {
      await client.embed({ inputs: `text ${i}` }, { headers: { "x-tei-model": BGE } }).catch((e) => failures.push(ConnectError.from(e).message));
    }
    expect(failures).toEqual([]);
    expect(await metric(fx, "tei_router_ejections_total")).toBe(0);
    expect(await metric(fx, "tei_router_retries_total")).toBe(0);
    expect(fx.router.table.replicas().map((r) => [r.instanceName, r.failures, r.ejectedUntil])).toEqual([
      ["bge-1", 0, 0],
      ["bge-2", 0, 0],
    ]);
    expect(cp.reports).toEqual([]);
  });

  test("a flood of malformed requests ends its connection with ENHANCE_YOUR_CALM, like a flood of resets", async () => {
    const flooder = await H2SocketClient.connect(fx.port);
    try {
      const bad = { headers: [...PSEUDO, "X-A", "1", ...REGULAR] };
      const outcomes = await Promise.all(Array.from({ length: 10_001 }, () => flooder.request(bad)));
      expect(outcomes.at(-1)).toEqual({ goaway: ErrorCode.ENHANCE_YOUR_CALM });
    } finally {
      flooder.close();
    }
    const answer = await raw.request(request());
    expect(headerValue(answer.trailers ?? [], "grpc-status")).toBe("0");
  });
});

describe("a backend that resets a request with PROTOCOL_ERROR", () => {
  test("is answered INTERNAL, not retried on another replica, and not counted toward ejection", async () => {
    // What TEI does with a request it finds malformed (RFC 9113 §8.1.1): the request's fault.
    const strict = createH2Server();
    strict.on("stream", (s) => {
      s.on("error", () => {});
      s.close(h2constants.NGHTTP2_PROTOCOL_ERROR);
    });
    await new Promise<void>((r) => strict.listen(0, "127.0.0.1", r));
    const well = await startTestBackend("well");
    const fx = await startRouter([route("strict", `127.0.0.1:${(strict.address() as AddressInfo).port}`), route("well", well.address)], {
      ejectAfterFailures: 1,
    });
    try {
      for (let i = 0; i < 5; i++) {
        const err = await fx
          .client(Embed)
          .embed({ inputs: "x" }, { headers: { "x-tei-instance": "strict" } })
          .catch((e) => ConnectError.from(e));
        expect(err).toMatchObject({ code: Code.Internal });
        expect((err as ConnectError).rawMessage).toContain("malformed");
      }
      expect(well.calls.get("Embed")).toBeUndefined();
      expect(await metric(fx, "tei_router_retries_total")).toBe(0);
      expect(await metric(fx, "tei_router_ejections_total")).toBe(0);
      expect(fx.router.table.replicas().find((r) => r.instanceName === "strict")).toMatchObject({ failures: 0, ejectedUntil: 0 });
    } finally {
      await fx.close();
      await well.close();
      await new Promise<void>((r) => strict.close(() => r()));
    }
  });
});
