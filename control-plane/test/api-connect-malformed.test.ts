import { connect as connectH2, type IncomingHttpHeaders } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, type ApiFixture, redisSnapshot, startApi } from "./api-fixtures.ts";

let api: ApiFixture;
let before: Record<string, unknown>;
beforeAll(async () => {
  // No placement worker or reconciler: nothing but this file's requests may change Redis.
  api = await startApi({ scheduler: { worker: false, reconciler: false } });
  before = await redisSnapshot(api.redis, api.cp.keys.prefix);
});
afterAll(async () => {
  await api.close();
});

const CREATE = "/tei_fleet.v1.InstanceService/CreateInstance";
const WATCH = "/tei_fleet.v1.InstanceService/Watch";
/** Bytes that are not protobuf: a varint that never ends. */
const TRUNCATED = new Uint8Array([0xff, 0xff, 0xff]);
/** Bytes that are not protobuf: an illegal wire type (7) in the first tag. */
const ILLEGAL_TAG = new TextEncoder().encode("\x0fnot protobuf at all");

/** A gRPC / gRPC-web length-prefixed message frame (uncompressed). */
function frame(message: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

/** Sends one raw gRPC request over h2c; the status comes from the trailers (or headers if trailers-only). */
async function rawGrpc(path: string, body: Uint8Array, token: string | null = ADMIN): Promise<{ status: string; message: string }> {
  const session = connectH2(api.url);
  try {
    const headers: Record<string, string> = { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" };
    if (token) headers.authorization = `Bearer ${token}`;
    const req = session.request(headers);
    req.end(body);
    const { head, tail } = await new Promise<{ head: IncomingHttpHeaders; tail: IncomingHttpHeaders }>((resolve, reject) => {
      let head: IncomingHttpHeaders = {};
      let tail: IncomingHttpHeaders = {};
      req.on("response", (h) => {
        head = h;
      });
      req.on("trailers", (t) => {
        tail = t;
      });
      req.on("data", () => {});
      req.on("end", () => resolve({ head, tail }));
      req.on("error", reject);
    });
    const status = String(tail["grpc-status"] ?? head["grpc-status"]);
    const message = decodeURIComponent(String(tail["grpc-message"] ?? head["grpc-message"] ?? ""));
    return { status, message };
  } finally {
    session.close();
  }
}

describe("a request that is not valid protobuf binary is INVALID_ARGUMENT, not INTERNAL", () => {
  it("Connect binary (application/proto): HTTP 400, invalid_argument naming the message type and the problem", async () => {
    for (const [bytes, problem] of [
      [TRUNCATED, "premature EOF"],
      [ILLEGAL_TAG, "illegal tag"],
    ] as const) {
      const res = await fetch(api.url + CREATE, {
        method: "POST",
        headers: { "content-type": "application/proto", authorization: `Bearer ${ADMIN}` },
        body: bytes,
      });
      const body = (await res.json()) as { code: string; message: string };
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(body.code).toBe("invalid_argument");
      expect(body.message).toContain("tei_fleet.v1.CreateInstanceRequest");
      expect(body.message).toContain(problem);
    }
  });

  it("gRPC over HTTP/2: grpc-status 3, for a unary call and for a server stream", async () => {
    const unary = await rawGrpc(CREATE, frame(ILLEGAL_TAG));
    expect(unary.status).toBe("3");
    expect(unary.message).toContain("tei_fleet.v1.CreateInstanceRequest");
    expect(unary.message).toContain("illegal tag");
    const stream = await rawGrpc(WATCH, frame(TRUNCATED));
    expect(stream.status).toBe("3");
    expect(stream.message).toContain("tei_fleet.v1.WatchRequest");
  });

  it("gRPC-web: grpc-status 3 in the trailer frame", async () => {
    const res = await fetch(api.url + CREATE, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", authorization: `Bearer ${ADMIN}` },
      body: frame(TRUNCATED),
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    // Frames: flags (1 byte), length (4), payload; the trailer frame is flagged 0x80 and holds "name: value" lines.
    let trailer = "";
    for (let at = 0; at + 5 <= bytes.length; ) {
      const length = new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0);
      if (bytes[at]! & 0x80) trailer = new TextDecoder().decode(bytes.subarray(at + 5, at + 5 + length));
      at += 5 + length;
    }
    expect(trailer).toMatch(/grpc-status: ?3\r\n/);
    expect(decodeURIComponent(trailer)).toContain("tei_fleet.v1.CreateInstanceRequest");
  });

  it("the token is still checked first: garbage without a token is UNAUTHENTICATED", async () => {
    expect((await rawGrpc(CREATE, frame(ILLEGAL_TAG), null)).status).toBe("16");
  });

  it("afterwards the server still serves every protocol, and nothing was written", async () => {
    const ok = await rawGrpc("/tei_fleet.v1.InstanceService/ListInstances", frame(new Uint8Array()));
    expect(ok.status).toBe("0");
    expect((await api.rest("GET", "/health")).status).toBe(200);
    expect(await redisSnapshot(api.redis, api.cp.keys.prefix)).toEqual(before);
  });
});
