/**
 * Bidirectional streaming throughput: one EmbedStream carrying N messages, written as fast as
 * flow control allows while responses are read, timed from the first write to the trailers.
 * A raw node:http2 client, so the client itself costs as little as possible.
 */
import { connect } from "node:http2";

/** Result of one streamed run. */
export interface StreamResult {
  messages: number;
  seconds: number;
  messagesPerSec: number;
  status: string | undefined;
}

/**
 * Streams `count` copies of `framed` (one framed EmbedRequest) to `path` on `authority` and
 * counts the response messages.
 */
export function streamThroughput(authority: string, path: string, framed: Buffer, count: number, headers: Record<string, string>): Promise<StreamResult> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://${authority}`);
    session.on("error", reject);
    const t0 = process.hrtime.bigint();
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
    let received = 0;
    let pending = 0; // bytes of a response frame not yet consumed
    let header = Buffer.alloc(0);
    let status: string | undefined;
    req.on("response", (h) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
    });
    req.on("trailers", (t) => (status = String(t["grpc-status"])));
    req.on("data", (chunk: Buffer) => {
      // Count response frames without decoding them.
      let off = 0;
      while (off < chunk.length) {
        if (pending > 0) {
          const take = Math.min(pending, chunk.length - off);
          pending -= take;
          off += take;
          continue;
        }
        const need = 5 - header.length;
        header = Buffer.concat([header, chunk.subarray(off, off + need)]);
        off += Math.min(need, chunk.length - off);
        if (header.length === 5) {
          pending = header.readUInt32BE(1);
          header = Buffer.alloc(0);
          received++;
        }
      }
    });
    req.on("error", reject);
    req.on("close", () => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      session.close();
      resolve({ messages: received, seconds, messagesPerSec: received / seconds, status });
    });
    // Write in batches of 64 messages per write, respecting backpressure.
    const batch = Buffer.concat(Array.from({ length: 64 }, () => framed));
    let sent = 0;
    const pump = (): void => {
      while (sent < count) {
        const n = Math.min(64, count - sent);
        const buf = n === 64 ? batch : batch.subarray(0, n * framed.length);
        sent += n;
        if (!req.write(buf)) {
          req.once("drain", pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}
