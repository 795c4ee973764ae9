/**
 * A bare node:http2 gRPC client for tests that must send what real clients never would:
 * garbage frames, frames split at odd places, wrong content-types, unknown paths.
 */
import { type ClientHttp2Session, connect, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";

export interface RawAnswer {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders | undefined;
  body: Buffer;
  /** grpc-status from trailers, or from headers for a trailers-only answer. */
  status: number | undefined;
  message: string | undefined;
}

export function frame(payload: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + payload.length);
  out.writeUInt32BE(payload.length, 1);
  Buffer.from(payload).copy(out, 5);
  return out;
}

export function rawSession(port: number): ClientHttp2Session {
  const s = connect(`http://127.0.0.1:${port}`);
  s.on("error", () => {});
  return s;
}

/** Sends `chunks` as separate writes (each one DATA frame), then ends, and collects the answer. */
export function rawCall(session: ClientHttp2Session, path: string, chunks: Buffer[], headers: OutgoingHttpHeaders = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    let head: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    const body: Buffer[] = [];
    req.on("response", (h) => (head = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (c: Buffer) => body.push(c));
    req.on("error", reject);
    req.on("close", () => {
      const src = trailers ?? head;
      const st = src["grpc-status"];
      resolve({
        headers: head,
        trailers,
        body: Buffer.concat(body),
        status: st === undefined ? undefined : Number(st),
        message: src["grpc-message"] === undefined ? undefined : decodeURIComponent(String(src["grpc-message"])),
      });
    });
    const write = (i: number): void => {
      if (i === chunks.length) {
        req.end();
        return;
      }
      req.write(chunks[i], () => setImmediate(() => write(i + 1)));
    };
    write(0);
  });
}
