/**
 * The router's own HTTP/2 layer against real peers: node:http2 backends with small flow-control
 * windows and a low stream limit, raw sockets sending protocol garbage, and the router's answers
 * to both.
 */

import { connect, createServer, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import { type AddressInfo, connect as netConnect } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { Embed, EmbedRequestSchema } from "@tei-fleet/proto/tei/v1";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { frame, rawCall, rawSession } from "./support/raw-client.ts";
import { type RouterFixture, route, startRouter } from "./support/router-fixture.ts";
import { startTestBackend, type TestBackend } from "./support/tei-backend.ts";
import { until } from "./support/until.ts";

const EMBED = "/tei.v1.Embed/Embed";

const EMBED_STREAM = "/tei.v1.Embed/EmbedStream";

/** Echoes every request body back as the response body, with grpc-status 0 trailers. */
async function startEchoBackend(settings: { initialWindowSize: number; maxConcurrentStreams: number }) {
  let open = 0;
  let maxOpen = 0;
  const server: Http2Server = createServer({ settings });
  server.on("stream", (stream: ServerHttp2Stream) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    stream.on("close", () => open--);
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    // Answer slowly enough that concurrent calls overlap at the backend's stream limit.
    stream.on("end", () => setTimeout(() => stream.end(), 20));
    stream.pipe(stream, { end: false });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    maxOpen: () => maxOpen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Opens a raw TCP connection to the router, writes `bytes`, and collects what comes back until it closes. */
function rawExchange(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: "127.0.0.1", port });
    const got: Buffer[] = [];
    s.on("data", (c) => got.push(c));
    s.on("error", reject);
    s.on("close", () => resolve(Buffer.concat(got)));
    s.write(bytes);
    setTimeout(() => s.destroy(), 3000).unref();
  });
}

/** The GOAWAY frame in the bytes a server sent: [error code, debug text], or undefined. */
function goawayOf(bytes: Buffer): { code: number; debug: string } | undefined {
  let off = 0;
  while (off + 9 <= bytes.length) {
    const len = bytes.readUIntBE(off, 3);
    if (bytes[off + 3] === 7) return { code: bytes.readUInt32BE(off + 13), debug: bytes.subarray(off + 17, off + 9 + len).toString() };
    off += 9 + len;
  }
  return undefined;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

describe("flow control and stream limits toward a backend", () => {
  let echo: Awaited<ReturnType<typeof startEchoBackend>>;
  let fx: RouterFixture;
  beforeAll(async () => {
    echo = await startEchoBackend({ initialWindowSize: 16 * 1024, maxConcurrentStreams: 2 });
    fx = await startRouter([route("echo", echo.address)]);
  });
  afterAll(async () => {
    await fx?.close();
    await echo?.close();
  });

  test("a 3 MiB message crosses a backend with 16 KiB stream windows intact, both ways", async () => {
    const inputs = "abcdefghij".repeat(300 * 1024);
    const body = frame(toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs })));
    const session = rawSession(fx.port);
    try {
      const res = await rawCall(session, EMBED, [body], { "x-tei-instance": "echo" });
      expect(res.status).toBe(0);
      expect(res.body.length).toBe(body.length);
      expect(res.body.equals(body)).toBe(true);
    } finally {
      session.close();
    }
  });

  test("calls beyond the backend's MAX_CONCURRENT_STREAMS wait for a slot instead of failing", async () => {
    const session = rawSession(fx.port);
    try {
      const body = frame(toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs: "hi" })));
      const answers = await Promise.all(Array.from({ length: 12 }, () => rawCall(session, EMBED, [body], { "x-tei-instance": "echo" })));
      expect(answers.map((a) => a.status)).toEqual(Array(12).fill(0));
      expect(echo.maxOpen()).toBeLessThanOrEqual(2);
    } finally {
      session.close();
    }
  });

  test("a bidirectional stream of 2,000 messages of 4 KiB arrives complete and in order", async () => {
    const session = rawSession(fx.port);
    try {
      const msgs = Array.from({ length: 2000 }, (_, i) =>
        frame(toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs: `${i}:`.padEnd(4096, "x") }))),
      );
      const res = await rawCall(session, EMBED_STREAM, [Buffer.concat(msgs)], { "x-tei-instance": "echo" });
      expect(res.status).toBe(0);
      expect(res.body.equals(Buffer.concat(msgs))).toBe(true);
    } finally {
      session.close();
    }
  });
});

describe("a backend that sends GOAWAY (graceful restart)", () => {
  test("calls already running finish, and later calls open a fresh connection", async () => {
    const server: Http2Server = createServer();
    const sessions: ServerHttp2Session[] = [];
    server.on("session", (s: ServerHttp2Session) => sessions.push(s));
    server.on("stream", (stream: ServerHttp2Stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.on("end", () => setTimeout(() => stream.end(), 100));
      stream.pipe(stream, { end: false });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const fx = await startRouter([route("b", `127.0.0.1:${(server.address() as AddressInfo).port}`)]);
    const session = rawSession(fx.port);
    try {
      const body = frame(toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs: "hi" })));
      const call = () => rawCall(session, EMBED, [body], { "x-tei-instance": "b" });
      const inFlight = call();
      await until(() => sessions.length === 1);
      await new Promise((r) => setTimeout(r, 30)); // the call is now at the backend
      sessions[0]!.goaway(0, 1); // NO_ERROR, last stream 1: the running call is kept
      expect((await inFlight).status).toBe(0);
      expect((await call()).status).toBe(0);
      expect(sessions.length).toBe(2);
    } finally {
      session.close();
      await fx.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe("backpressure", () => {
  let echo: Awaited<ReturnType<typeof startEchoBackend>>;
  let fx: RouterFixture;
  beforeAll(async () => {
    echo = await startEchoBackend({ initialWindowSize: 65_535, maxConcurrentStreams: 100 });
    fx = await startRouter([route("echo", echo.address)]);
  });
  afterAll(async () => {
    await fx?.close();
    await echo?.close();
  });

  test("a client that stops reading stalls its own sending; the router does not buffer without bound", async () => {
    const session = rawSession(fx.port);
    const req = session.request({ ":method": "POST", ":path": EMBED_STREAM, "content-type": "application/grpc", te: "trailers", "x-tei-instance": "echo" });
    req.on("error", () => {});
    req.pause(); // never read the echoed responses
    const msg = frame(toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs: "x".repeat(64 * 1024 - 16) })));
    let sent = 0;
    const limit = 256 * 1024 * 1024;
    // Write until a write has not completed for 1.5 s (the pipe is full) or 256 MiB went out.
    await new Promise<void>((resolve) => {
      let stall: NodeJS.Timeout | undefined;
      const next = (): void => {
        clearTimeout(stall);
        if (sent >= limit) {
          resolve();
          return;
        }
        stall = setTimeout(resolve, 1500);
        sent += msg.length;
        req.write(msg, next);
      };
      next();
    });
    // Windows along the path (client 4 MiB + backend 4 MiB per stream) and socket buffers hold
    // a few tens of MiB at most; a router that credited bytes before passing them on would
    // have let all 256 MiB through into its own memory.
    expect(sent).toBeLessThan(64 * 1024 * 1024);
    req.close();
    session.close();
  });
});

describe("protocol garbage ends that connection only", () => {
  let backend: TestBackend;
  let fx: RouterFixture;
  beforeAll(async () => {
    backend = await startTestBackend("a");
    fx = await startRouter([route("a", backend.address)]);
  });
  afterAll(async () => {
    await fx?.close();
    await backend?.close();
  });

  async function stillServes(): Promise<void> {
    const res = await fx.client(Embed).embed({ inputs: "still here" }, { headers: { "x-tei-instance": "a" } });
    expect(res.embeddings).toHaveLength(8);
  }

  test("an HTTP/1.1 request gets GOAWAY PROTOCOL_ERROR saying the port speaks h2c", async () => {
    const got = await rawExchange(fx.port, Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const g = goawayOf(got);
    expect(g?.code).toBe(1);
    expect(g?.debug).toContain("h2c");
    await stillServes();
  });

  test("a header block that is not valid HPACK is COMPRESSION_ERROR", async () => {
    // HEADERS, stream 1, END_HEADERS|END_STREAM, payload: indexed field 127+ (index far beyond any table)
    const bad = Buffer.from([0, 0, 3, 1, 5, 0, 0, 0, 1, 0xff, 0xff, 0x7f]);
    const got = await rawExchange(fx.port, Buffer.concat([PREFACE, EMPTY_SETTINGS, bad]));
    expect(goawayOf(got)?.code).toBe(9);
    await stillServes();
  });

  test("a small header block that decodes to a huge header list (HPACK bomb) is refused on its stream only", async () => {
    // Node itself refuses to send such a list unless told it may.
    const session = connect(`http://127.0.0.1:${fx.port}`, { maxSendHeaderBlockLength: 1 << 20 });
    session.on("error", () => {});
    try {
      // 40 copies of one 2 KB value: Node sends it once and then as a table index (about 2 KB on
      // the wire), which decodes to 80 KB of headers.
      const big = "b".repeat(2000);
      const body = frame(toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs: "x" })));
      const err = await rawCall(session, EMBED, [body], { "x-tei-instance": "a", "x-big": Array(40).fill(big) }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/ENHANCE_YOUR_CALM/);
      // The same connection still carries calls.
      const ok = await rawCall(session, EMBED, [body], { "x-tei-instance": "a" });
      expect(ok.status).toBe(0);
    } finally {
      session.close();
    }
    await stillServes();
  });

  test("endless empty CONTINUATION frames (the 2024 CONTINUATION flood) end the connection", async () => {
    const headers = Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 1]); // HEADERS, stream 1, no END_HEADERS, empty
    const empty = Buffer.from([0, 0, 0, 9, 0, 0, 0, 0, 1]); // CONTINUATION, stream 1, empty
    const got = await rawExchange(fx.port, Buffer.concat([PREFACE, EMPTY_SETTINGS, headers, ...Array(1000).fill(empty)]));
    expect(goawayOf(got)?.code).toBe(11); // ENHANCE_YOUR_CALM
    await stillServes();
  });

  test("a flood of PINGs (or resets, or empty frames) ends the connection with ENHANCE_YOUR_CALM", async () => {
    const ping = Buffer.from([0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const got = await rawExchange(fx.port, Buffer.concat([PREFACE, EMPTY_SETTINGS, ...Array(12_000).fill(ping)]));
    expect(goawayOf(got)?.code).toBe(11);
    await stillServes();
  });

  test("a frame over the 16 KiB frame size is FRAME_SIZE_ERROR", async () => {
    const huge = Buffer.alloc(9 + 20_000);
    huge.writeUIntBE(20_000, 0, 3);
    huge[3] = 0; // DATA
    huge.writeUInt32BE(1, 5);
    const got = await rawExchange(fx.port, Buffer.concat([PREFACE, EMPTY_SETTINGS, huge]));
    expect(goawayOf(got)?.code).toBe(6);
    await stillServes();
  });

  test("DATA on a stream that was never opened is PROTOCOL_ERROR", async () => {
    const data = Buffer.from([0, 0, 1, 0, 1, 0, 0, 0, 7, 0x00]);
    const got = await rawExchange(fx.port, Buffer.concat([PREFACE, EMPTY_SETTINGS, data]));
    expect(goawayOf(got)?.code).toBe(1);
    await stillServes();
  });
});
