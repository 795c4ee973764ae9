import { connect } from "node:http2";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type FakeTeiProcess, startFakeTei } from "../support/fake-tei.ts";
import { type GatewayFixture, post, route, startGateway } from "./gateway-fixture.ts";

let tei: FakeTeiProcess;
let fx: GatewayFixture;

beforeAll(async () => {
  tei = await startFakeTei();
  fx = await startGateway([route("small", tei.address)]);
}, 60_000);
afterAll(async () => {
  await fx?.close();
  await tei?.kill();
});

function h2post(
  session: ReturnType<typeof connect>,
  path: string,
  body: unknown,
): Promise<{ status: number; headers: Record<string, unknown>; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/json" });
    let status = 0;
    let headers: Record<string, unknown> = {};
    let text = "";
    req.on("response", (h) => {
      status = Number(h[":status"]);
      headers = h;
    });
    req.on("data", (d: Buffer) => {
      text += d.toString();
    });
    req.on("end", () => resolve({ status, headers, body: JSON.parse(text) }));
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

describe("one port for HTTP/1.1 and h2c", () => {
  test("an HTTP/2 client with prior knowledge gets the same answers as an HTTP/1.1 one, several streams on one connection", async () => {
    const session = connect(fx.http);
    try {
      const [a, b, c] = await Promise.all([
        h2post(session, "/embed", { inputs: ["hello"] }),
        h2post(session, "/v1/embeddings", { input: ["hello"], encoding_format: "float" }),
        h2post(session, "/v1/embeddings", { input: "" }),
      ]);
      const h1 = await post(`${fx.http}/embed`, { inputs: ["hello"] });
      expect(a.status).toBe(200);
      expect(a.body).toEqual(h1.body);
      expect(a.headers["x-tei-instance"]).toBe("small");
      expect(a.headers["x-compute-tokens"]).toBe("7");
      expect((b.body as { data: { embedding: number[] }[] }).data[0]?.embedding).toEqual(h1.body[0]);
      expect(c.status).toBe(400);
      expect(c.body).toMatchObject({ error: { param: "input" } });
    } finally {
      session.close();
    }
  });
});
