import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type FakeTeiProcess, startFakeTei } from "../support/fake-tei.ts";
import { type GatewayFixture, post, route, startGateway } from "./gateway-fixture.ts";

let tei: FakeTeiProcess;
let fx: GatewayFixture;

beforeAll(async () => {
  tei = await startFakeTei();
  fx = await startGateway([route("small", tei.address)], { httpMaxBodyBytes: 64 * 1024 });
}, 60_000);
afterAll(async () => {
  await fx?.close();
  await tei?.kill();
});

const tei400 = (r: { status: number; body: unknown }, status: number, type: string, field?: string) => {
  expect(r.status).toBe(status);
  expect(r.body).toMatchObject({ error_type: type });
  if (field !== undefined) expect((r.body as { error: string }).error).toContain(field);
};
const openai400 = (r: { status: number; body: unknown }, status: number, param: string | null) => {
  expect(r.status).toBe(status);
  expect(r.body).toMatchObject({ error: { type: status >= 500 ? "server_error" : "invalid_request_error", param } });
};

describe("bad input is answered with the route family's status and shape, and nobody else notices", () => {
  test("malformed JSON: 400 on TEI's routes and OpenAI's", async () => {
    tei400(await post(`${fx.http}/embed`, '{"inputs": "a"'), 400, "Validation", "not valid JSON");
    const o = await post(`${fx.http}/v1/embeddings`, "{nope");
    expect(o.status).toBe(400);
    expect(o.body.error.code).toBe("invalid_json");
    tei400(await post(`${fx.http}/embed`, "[1,2]"), 422, "Validation", "expected a JSON object");
  });

  test("wrong types name the field: 422 on TEI's routes, 400 with param on OpenAI's", async () => {
    tei400(await post(`${fx.http}/embed`, { inputs: 5 }), 422, "Validation", "inputs");
    tei400(await post(`${fx.http}/embed`, { inputs: "a", truncate: "yes" }), 422, "Validation", "truncate");
    tei400(await post(`${fx.http}/embed`, { inputs: "a", truncation_direction: "up" }), 422, "Validation", "truncation_direction");
    tei400(await post(`${fx.http}/embed`, { inputs: ["a", 3.5] }), 422, "Validation", "inputs");
    tei400(await post(`${fx.http}/rerank`, { query: "q", texts: "not a list" }), 422, "Validation", "texts");
    openai400(await post(`${fx.http}/v1/embeddings`, { input: { a: 1 } }), 400, "input");
    openai400(await post(`${fx.http}/v1/embeddings`, { input: "a", dimensions: "8" }), 400, "dimensions");
    openai400(await post(`${fx.http}/v1/embeddings`, { input: "a", encoding_format: "int8" }), 400, "encoding_format");
    openai400(await post(`${fx.http}/v1/embeddings`, { input: "a", model: 7 }), 400, "model");
  });

  test("empty input: 400 Empty (TEI) and 400 invalid_request_error (OpenAI)", async () => {
    tei400(await post(`${fx.http}/embed`, { inputs: "" }), 400, "Empty");
    tei400(await post(`${fx.http}/embed`, { inputs: [] }), 400, "Empty");
    tei400(await post(`${fx.http}/rerank`, { query: "q", texts: [] }), 400, "Empty");
    tei400(await post(`${fx.http}/embed`, {}), 422, "Validation", "inputs");
    openai400(await post(`${fx.http}/v1/embeddings`, { input: "" }), 400, "input");
    openai400(await post(`${fx.http}/v1/embeddings`, { input: [] }), 400, "input");
    openai400(await post(`${fx.http}/v1/embeddings`, {}), 400, "input");
  });

  test("an oversize body is 413 in the family's shape, and the connection stays usable", async () => {
    const big = JSON.stringify({ inputs: "x".repeat(100 * 1024) });
    tei400(await post(`${fx.http}/embed`, big), 413, "Validation");
    const o = await post(`${fx.http}/v1/embeddings`, JSON.stringify({ input: "x".repeat(100 * 1024) }));
    expect(o.status).toBe(413);
    expect(o.body.error.code).toBe("request_too_large");
    expect((await post(`${fx.http}/embed`, { inputs: "ok" })).status).toBe(200);
  });

  test("an unknown model is 404 (OpenAI: model_not_found)", async () => {
    const o = await post(`${fx.http}/v1/embeddings`, { input: "a", model: "no-such-model" });
    expect(o.status).toBe(404);
    expect(o.body.error).toMatchObject({ code: "model_not_found", param: "model", type: "invalid_request_error" });
    tei400(await post(`${fx.http}/embed`, { inputs: "a" }, { "x-tei-model": "nope" }), 404, "NotFound");
    tei400(await post(`${fx.http}/embed`, { inputs: "a" }, { "x-tei-instance": "nope" }), 404, "NotFound");
  });

  test("invalid UTF-8 and lone surrogates are refused naming the problem", async () => {
    const bytes = Buffer.concat([Buffer.from('{"inputs":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    tei400(await post(`${fx.http}/embed`, new Uint8Array(bytes)), 400, "Validation", "UTF-8");
    tei400(await post(`${fx.http}/embed`, '{"inputs":"\\ud800"}'), 422, "Validation", "well-formed");
    openai400(await post(`${fx.http}/v1/embeddings`, '{"input":["ok","\\udc00"]}'), 400, "input[1]");
  });

  test("dimensions larger than the model are refused before inference once its size is known", async () => {
    expect((await post(`${fx.http}/embed`, { inputs: "learn" })).status).toBe(200);
    const r = await post(`${fx.http}/v1/embeddings`, { input: "a", dimensions: 4096 });
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe("dimensions");
  });

  test("unknown paths, wrong methods and broken HTTP are refused; other clients are served throughout", async () => {
    expect((await fetch(`${fx.http}/nope`)).status).toBe(404);
    const wrong = await fetch(`${fx.http}/embed`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
    const url = new URL(fx.http);
    const reply = await new Promise<string>((resolve) => {
      const s = connect(Number(url.port), url.hostname, () => s.write("GARBAGE \x00\x01 HTTP/9\r\n\r\n"));
      let got = "";
      s.on("data", (d) => {
        got += d.toString();
      });
      s.on("close", () => resolve(got));
      s.on("error", () => resolve(got));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    const ok = await post(`${fx.http}/v1/embeddings`, { input: ["still", "served"] });
    expect(ok.status).toBe(200);
    expect(ok.body.data).toHaveLength(2);
  });
});
