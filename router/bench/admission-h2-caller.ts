/**
 * A lean gRPC caller for the admission bench's probe: Node's own HTTP/2 client with the request
 * framed once, the status read from the answer's headers (a trailers-only refusal) or trailers.
 * Connect's client costs about a millisecond of CPU per call in a process that was idle (its
 * call objects, interceptors, message codecs), which the probe would otherwise report as the
 * router's refusal time; this one costs a tenth of that, so the probe's figure is the router's
 * and the network's.
 */
import { type ClientHttp2Session, connect, constants } from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { EmbedRequestSchema } from "@tei-fleet/proto/tei/v1";

/** One Embed call's request: where it goes, its metadata and its text. */
export interface H2Call {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly text: string;
}

/** Sends Embed calls over one HTTP/2 connection per router, each answered with its gRPC code. */
export class H2Caller {
  private readonly sessions = new Map<string, ClientHttp2Session>();
  private readonly bodies = new Map<string, Buffer>();

  /** Sends `call`; resolves with its gRPC code (0: OK), CANCELLED when `signal` aborts it. */
  embed(call: H2Call, signal: AbortSignal): Promise<Code | 0> {
    const stream = this.sessionOf(call.url).request(
      { ":method": "POST", ":path": "/tei.v1.Embed/Embed", "content-type": "application/grpc", te: "trailers", ...call.headers },
      { signal },
    );
    return new Promise((resolve) => {
      let code: Code | 0 | undefined;
      const statusOf = (h: Record<string, unknown>): void => {
        const s = h["grpc-status"];
        if (s !== undefined) code = Number(s) as Code | 0;
      };
      stream.on("response", statusOf);
      stream.on("trailers", statusOf);
      stream.on("data", () => {});
      stream.on("error", () => {});
      stream.on("close", () => {
        if (code !== undefined) resolve(code);
        else resolve(stream.rstCode === constants.NGHTTP2_REFUSED_STREAM ? Code.Unavailable : signal.aborted ? Code.Canceled : Code.Unknown);
      });
      stream.end(this.bodyOf(call.text));
    });
  }

  /** Closes every connection. */
  close(): void {
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
  }

  private sessionOf(url: string): ClientHttp2Session {
    let s = this.sessions.get(url);
    if (s === undefined || s.closed || s.destroyed) {
      s = connect(url);
      s.on("error", () => {});
      this.sessions.set(url, s);
    }
    return s;
  }

  private bodyOf(text: string): Buffer {
    let b = this.bodies.get(text);
    if (b === undefined) {
      const msg = toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs: text, normalize: true, truncate: true }));
      b = Buffer.alloc(5 + msg.length);
      b.writeUInt32BE(msg.length, 1);
      b.set(msg, 5);
      this.bodies.set(text, b);
    }
    return b;
  }
}
