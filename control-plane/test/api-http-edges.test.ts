import * as http2 from "node:http2";
import { connect, type Server as NetServer, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDualProtocolServer, type DualProtocolServer } from "../src/server/dual-protocol-server.ts";
import { ADMIN, type ApiFixture, startApi, waitFor } from "./api-fixtures.ts";

let api: ApiFixture;
beforeAll(async () => {
  api = await startApi({ scheduler: { worker: false, reconciler: false } });
});
afterAll(async () => {
  await api.close();
});

const TEN_MB = Buffer.alloc(10 * 1024 * 1024, "a");
const auth = { authorization: `Bearer ${ADMIN}` };

/** Connections the control plane's port holds open. */
const connections = () =>
  new Promise<number>((resolve, reject) => (api.cp.app.server as unknown as NetServer).getConnections((err, n) => (err ? reject(err) : resolve(n))));

/** A raw HTTP/1.1 response as read off the socket. */
interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function parseRaw(text: string): RawResponse {
  const end = text.indexOf("\r\n\r\n");
  expect(end, `a complete HTTP/1.1 response, got ${JSON.stringify(text.slice(0, 200))}`).toBeGreaterThan(0);
  const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
  return { status: Number(statusLine!.split(" ")[1]), headers, body: text.slice(end + 4) };
}

/**
 * Opens a raw connection, lets `talk` write to it, and collects what the server sends until it
 * closes the connection or `waitMs` passes. `closedAfterMs` is undefined when it stayed open.
 */
function rawConnection(
  port: number,
  talk: (socket: Socket, received: () => string) => void,
  waitMs: number,
): Promise<{ text: string; closedAfterMs: number | undefined }> {
  return new Promise((resolve) => {
    const started = Date.now();
    let text = "";
    const socket = connect(port, "127.0.0.1", () => talk(socket, () => text));
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closedAfterMs: closed ? Date.now() - started : undefined });
    };
    const timer = setTimeout(() => done(false), waitMs);
    socket.on("data", (d) => {
      text += String(d);
    });
    socket.on("close", () => done(true));
    socket.on("error", () => {
      /* a reset after the answer; 'close' follows */
    });
  });
}

/** Expects the API's JSON error body with this status and code. */
function expectJsonError(status: number, contentType: string | undefined, bodyText: string, wantStatus: number, code: string) {
  expect(status, bodyText.slice(0, 300)).toBe(wantStatus);
  expect(contentType).toContain("application/json");
  const body = JSON.parse(bodyText) as { code: string; error: string; timestamp: string };
  expect(body.code).toBe(code);
  expect(body.error.length).toBeGreaterThan(0);
  expect(Date.parse(body.timestamp)).not.toBeNaN();
}

/** One HTTP/2 request on `session`; resolves with what came back, or how the stream ended. */
function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer,
): Promise<{ status: number; contentType?: string; text: string; rstCode?: number; error?: string }> {
  return new Promise((resolve) => {
    const req = session.request(headers);
    let status = 0;
    let contentType: string | undefined;
    let text = "";
    req.on("response", (h) => {
      status = Number(h[":status"]);
      contentType = h["content-type"] as string | undefined;
    });
    req.on("data", (d) => {
      text += String(d);
    });
    req.on("end", () => resolve({ status, contentType, text, rstCode: req.rstCode }));
    req.on("error", (err) => resolve({ status, contentType, text, rstCode: req.rstCode, error: err.message }));
    req.end(body);
  });
}

describe("bodies over the limit get their 413 before the connection or stream is closed", () => {
  it("over HTTP/1.1, every one of nine 10 MB uploads, with a Content-Length or chunked", async () => {
    const outcomes: string[] = [];
    for (const framing of ["content-length", "chunked"] as const) {
      for (let i = 0; i < 9; i++) {
        // A stream has no length: fetch sends it chunked, as a producer makes it (1 MiB at a
        // time), so the server refuses it part-way while the client still sends.
        const body =
          framing === "content-length"
            ? TEN_MB
            : new ReadableStream<Uint8Array>({
                async start(controller) {
                  for (let at = 0; at < TEN_MB.length; at += 1 << 20) {
                    controller.enqueue(TEN_MB.subarray(at, at + (1 << 20)));
                    await new Promise((r) => setTimeout(r, 5));
                  }
                  controller.close();
                },
              });
        try {
          const res = await fetch(`${api.url}/instances`, {
            method: "POST",
            headers: { ...auth, "content-type": "application/json" },
            body,
            duplex: "half",
          } as RequestInit);
          const text = await res.text();
          expectJsonError(res.status, res.headers.get("content-type") ?? undefined, text, 413, "PAYLOAD_TOO_LARGE");
          outcomes.push("413");
        } catch (err) {
          outcomes.push(`${framing} #${i}: ${(err as Error).message} (${String((err as { cause?: { code?: string } }).cause?.code)})`);
        }
      }
    }
    expect(outcomes).toEqual(Array(18).fill("413"));

    // What follows a refused body on the connection (here a pipelined request) is read and
    // dropped, never served, and the server closes its side as soon as the client has closed.
    await waitFor("the refused uploads' connections to close", async () => (await connections()) === 0, 5000);
    const body = "x".repeat(300 * 1024);
    const { text } = await rawConnection(
      api.cp.port,
      (s) =>
        s.write(
          `POST /instances HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${ADMIN}\r\ncontent-type: application/json\r\n` +
            `content-length: ${body.length}\r\n\r\n${body}GET /health HTTP/1.1\r\nhost: x\r\n\r\n`,
        ),
      5000,
    );
    expect(text.match(/HTTP\/1\.1 \d{3}/g)).toEqual(["HTTP/1.1 413"]);
    await waitFor("the server to close the refused connection", async () => (await connections()) === 0, 2000);
    expect((await api.rest("GET", "/health")).status).toBe(200);
  });

  it("over h2c, every one of nine 10 MB uploads sent with Node's HTTP/2 client in one write", async () => {
    const session = http2.connect(api.url);
    try {
      const outcomes: string[] = [];
      for (let i = 0; i < 9; i++) {
        const res = await h2Request(session, { ":method": "POST", ":path": "/instances", ...auth, "content-type": "application/json" }, TEN_MB);
        if (res.error) {
          outcomes.push(`#${i}: ${res.error}`);
          continue;
        }
        expectJsonError(res.status, res.contentType, res.text, 413, "PAYLOAD_TOO_LARGE");
        expect(res.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
        outcomes.push("413");
      }
      expect(outcomes).toEqual(Array(9).fill("413"));
    } finally {
      session.close();
    }
  });
});

describe("refusals made below the application answer in the API's JSON error shape", () => {
  it("a header section over 16 KiB is 431 HEADERS_TOO_LARGE, over HTTP/1.1 and h2c", async () => {
    const big = "a".repeat(20 * 1024);
    const { text } = await rawConnection(api.cp.port, (s) => s.write(`GET /health HTTP/1.1\r\nhost: x\r\nx-big: ${big}\r\n\r\n`), 5000);
    const res = parseRaw(text);
    expectJsonError(res.status, res.headers["content-type"], res.body, 431, "HEADERS_TOO_LARGE");
    expect(Number(res.headers["content-length"])).toBe(Buffer.byteLength(res.body));
    expect(res.headers.connection).toBe("close");

    const session = http2.connect(api.url);
    try {
      const refused = await h2Request(session, { ":path": "/health", "x-big": big });
      expectJsonError(refused.status, refused.contentType, refused.text, 431, "HEADERS_TOO_LARGE");
      // Under the limit, the same session serves as before.
      expect((await h2Request(session, { ":path": "/health", "x-big": "a".repeat(8 * 1024) })).status).toBe(200);
    } finally {
      session.close();
    }
  });

  it("a request Node's HTTP/1.1 parser rejects is 400 MALFORMED_REQUEST, and the server serves on", async () => {
    for (const request of ["GET /health HTTP/1.1\r\nhost: x\r\nbad header: y\r\n\r\n", "\x16\x03\x01 not http at all\r\n\r\n"]) {
      const res = parseRaw((await rawConnection(api.cp.port, (s) => s.write(request), 5000)).text);
      expectJsonError(res.status, res.headers["content-type"], res.body, 400, "MALFORMED_REQUEST");
      expect(res.body).toContain("malformed HTTP/1.1 request");
    }
    expect((await api.rest("GET", "/health")).status).toBe(200);
  });
});

describe("HTTP/1.1 header time is bounded", () => {
  it("a client dribbling its headers gets 408 and is closed at headersTimeoutMs, on a new or a kept-alive connection; the default is 10 s", async () => {
    const defaults = createDualProtocolServer(() => {});
    expect(defaults.http1.headersTimeout).toBe(10_000);
    expect(defaults.http1.requestTimeout).toBe(60_000);
    expect((api.cp.app.server as unknown as DualProtocolServer).http1.headersTimeout).toBe(10_000);

    const fast = await startApi({
      app: { server: { headersTimeoutMs: 500, connectionsCheckingIntervalMs: 100 } },
      scheduler: { worker: false, reconciler: false },
    });
    try {
      /** Sends a header line every 100 ms, never the blank line that ends them. */
      const dribble = (socket: Socket) => {
        const timer = setInterval(() => {
          if (socket.writable) socket.write("x-dribble: 1\r\n");
        }, 100);
        socket.once("close", () => clearInterval(timer));
      };
      const fresh = await rawConnection(
        fast.cp.port,
        (s) => {
          s.write("GET /health HTTP/1.1\r\nhost: x\r\n");
          dribble(s);
        },
        5000,
      );
      expect(fresh.closedAfterMs, "the dribbling connection should have been closed").toBeDefined();
      expect(fresh.closedAfterMs!).toBeLessThan(3000);
      const timedOut = parseRaw(fresh.text);
      expectJsonError(timedOut.status, timedOut.headers["content-type"], timedOut.body, 408, "REQUEST_TIMEOUT");

      // The same after a first request on the connection and an idle moment (keep-alive).
      let answered = -1;
      const kept = await rawConnection(
        fast.cp.port,
        (s, received) => {
          s.write("GET /health HTTP/1.1\r\nhost: x\r\n\r\n");
          const waitForFirst = setInterval(() => {
            const text = received();
            const end = text.indexOf("\r\n\r\n");
            const length = /content-length: (\d+)/i.exec(text);
            if (end < 0 || !length || text.length < end + 4 + Number(length[1])) return;
            clearInterval(waitForFirst);
            answered = end + 4 + Number(length[1]);
            setTimeout(() => {
              s.write("GET /health HTTP/1.1\r\nhost: x\r\n");
              dribble(s);
            }, 300);
          }, 20);
        },
        6000,
      );
      expect(kept.text.startsWith("HTTP/1.1 200")).toBe(true);
      expect(kept.closedAfterMs, "the dribbling keep-alive connection should have been closed").toBeDefined();
      const second = parseRaw(kept.text.slice(answered));
      expectJsonError(second.status, second.headers["content-type"], second.body, 408, "REQUEST_TIMEOUT");
    } finally {
      await fast.close();
    }
  });
});
