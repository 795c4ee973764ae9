/**
 * The HPACK codec against Node's own HTTP/2 (nghttp2), both ways, over raw sockets. Frames are cut
 * and header blocks joined with the router's own pieces (frames.ts, header-block-reader.ts).
 */

import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { Flag, FrameParser, FrameType, frame, CLIENT_PREFACE as PREFACE } from "../src/h2/frames.ts";
import { HeaderBlockReader } from "../src/h2/header-block-reader.ts";
import { HpackDecoder } from "../src/h2/hpack-decoder.ts";
import { HpackEncoder } from "../src/h2/hpack-encoder.ts";

const { HEADERS, SETTINGS } = FrameType;
const { END_STREAM, END_HEADERS } = Flag;
const EMPTY = Buffer.alloc(0);

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** Collects the frames arriving on a socket (after the client preface, if one is expected). */
class FrameCollector {
  readonly frames: Frame[] = [];
  private readonly parser = new FrameParser((type, flags, streamId, payload) => {
    this.frames.push({ type, flags, streamId, payload: Buffer.from(payload) });
  });
  private prefaceLeft: number;
  private notify: () => void = () => {};

  constructor(socket: net.Socket, expectPreface: boolean) {
    this.prefaceLeft = expectPreface ? PREFACE.length : 0;
    socket.on("data", (chunk: Buffer) => this.push(chunk));
  }

  private push(chunk: Buffer): void {
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, chunk.length);
      const done = PREFACE.length - this.prefaceLeft;
      expect(chunk.subarray(0, n)).toEqual(PREFACE.subarray(done, done + n));
      this.prefaceLeft -= n;
      chunk = chunk.subarray(n);
    }
    this.parser.push(chunk);
    this.notify();
  }

  /** Resolves once `ready` holds for the frames received so far. */
  async waitFor(ready: (frames: Frame[]) => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!ready(this.frames)) {
      if (Date.now() > deadline) throw new Error("timed out waiting for HTTP/2 frames");
      await new Promise<void>((resolve) => {
        this.notify = resolve;
        setTimeout(resolve, 50);
      });
    }
  }
}

/** The complete header blocks among `frames` (HEADERS without padding and priority, plus CONTINUATIONs). */
function headerBlocks(frames: readonly Frame[]): Array<{ streamId: number; block: Buffer }> {
  const blocks: Array<{ streamId: number; block: Buffer }> = [];
  const reader = new HeaderBlockReader((streamId, _flags, block) => blocks.push({ streamId, block }), 1 << 20);
  for (const f of frames) {
    if (f.type === HEADERS) reader.headers(f.flags, f.streamId, f.payload);
    else if (f.type === FrameType.CONTINUATION) reader.continuation(f.flags, f.streamId, f.payload);
  }
  return blocks;
}

describe("interoperability with Node's http2 (nghttp2)", () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  async function listen(server: net.Server): Promise<number> {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => server.close());
    return (server.address() as AddressInfo).port;
  }

  test("decodes the HEADERS a Node client sends, reusing the dynamic table across requests", async () => {
    const server = net.createServer();
    const accepted = new Promise<FrameCollector>((resolve) =>
      server.on("connection", (socket) => {
        cleanups.push(() => socket.destroy());
        resolve(new FrameCollector(socket, true));
      }),
    );
    const port = await listen(server);
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on("error", () => {}); // the raw server never answers; the test closes the client
    cleanups.push(() => client.destroy());

    const grpc = (timeout: string, extra: Record<string, string> = {}): Record<string, string> => ({
      ":method": "POST",
      ":scheme": "http",
      ":authority": `127.0.0.1:${port}`,
      ":path": "/tei.v1.Embed/Embed",
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": timeout,
      "grpc-accept-encoding": "identity,deflate,gzip",
      "user-agent": "grpc-node-js/1.12.6",
      "x-tei-model": "BAAI/bge-small-en-v1.5",
      ...extra,
    });
    const printable = String.fromCharCode(...Array.from({ length: 95 }, (_, i) => 0x20 + i));
    // Mostly '0' (a 5-bit code), so nghttp2 finds the Huffman form shorter and uses it for every high octet.
    const highOctets = Array.from({ length: 128 }, (_, i) => `00000000${String.fromCharCode(0x80 + i)}`).join("");
    const sent = [grpc("1000m"), grpc("999m"), grpc("5S", { "x-printable": `x${printable}\tx`, "x-octets": highOctets, "x-long": "abc".repeat(100) })];
    for (const headers of sent) client.request(headers, { endStream: true }).on("error", () => {});

    const collector = await accepted;
    await collector.waitFor((frames) => headerBlocks(frames).length >= sent.length);
    const blocks = headerBlocks(collector.frames);
    const d = new HpackDecoder();
    for (const [i, { block }] of blocks.entries()) expect(d.decode(block)).toEqual(Object.entries(sent[i]!).flat());
    expect(blocks.map((b) => b.streamId)).toEqual([1, 3, 5]);
    // The repeat request is mostly indexed references into the dynamic table...
    expect(blocks[1]!.block.length).toBeLessThan(blocks[0]!.block.length / 3);
    // ... and the big one is Huffman-coded (shorter than its raw strings).
    const rawBytes = Object.entries(sent[2]!)
      .flat()
      .reduce((n, s) => n + s.length, 0);
    expect(blocks[2]!.block.length).toBeLessThan(rawBytes);
  });

  test("a Node server receives exactly the headers we encode, and we decode its response", async () => {
    const server = http2.createServer();
    const seen = new Promise<string[]>((resolve) =>
      server.on("stream", (stream, _headers, _flags, rawHeaders) => {
        stream.respond({ ":status": 200, "content-type": "application/grpc", "x-reply": "caf\u00e9" }, { endStream: true });
        resolve(rawHeaders);
      }),
    );
    const port = await listen(server);
    const socket = net.connect(port, "127.0.0.1");
    cleanups.push(() => socket.destroy());
    const collector = new FrameCollector(socket, false);
    const headers = [
      ":method",
      "POST",
      ":scheme",
      "http",
      ":path",
      "/tei.v1.Embed/Embed",
      ":authority",
      "localhost",
      "content-type",
      "application/grpc",
      "te",
      "trailers",
      "grpc-timeout",
      "1000m",
      "x-tei-model",
      "bge-small",
      "authorization",
      "Bearer abc",
      "x-long",
      "y".repeat(300),
      "x-latin1",
      "caf\u00e9",
    ];
    const block = new HpackEncoder().encode(headers);
    socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, EMPTY), frame(HEADERS, END_HEADERS | END_STREAM, 1, block)]));
    expect(await seen).toEqual(headers);

    await collector.waitFor((frames) => headerBlocks(frames).length >= 1);
    const [response] = headerBlocks(collector.frames);
    expect(response!.streamId).toBe(1);
    const fields = new HpackDecoder().decode(response!.block);
    expect(fields.slice(0, 2)).toEqual([":status", "200"]);
    const byName = new Map<string, string>();
    for (let i = 0; i < fields.length; i += 2) byName.set(fields[i]!, fields[i + 1]!);
    expect(byName.get("content-type")).toBe("application/grpc");
    expect(byName.get("x-reply")).toBe("caf\u00e9");
    expect(byName.get("date")).toMatch(/GMT$/); // Node adds it; nghttp2 Huffman-codes it
  });

  test("after a Node server lowers its header table size, our next block carries the size update it requires", async () => {
    const server = http2.createServer({ settings: { headerTableSize: 0 } });
    const seen: string[][] = [];
    const twoStreams = new Promise<void>((resolve) =>
      server.on("stream", (stream, _headers, _flags, rawHeaders) => {
        stream.respond({ ":status": 200 }, { endStream: true });
        seen.push(rawHeaders);
        if (seen.length === 2) resolve();
      }),
    );
    const port = await listen(server);
    const socket = net.connect(port, "127.0.0.1");
    cleanups.push(() => socket.destroy());
    const collector = new FrameCollector(socket, false);
    socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, EMPTY)]));
    await collector.waitFor((frames) => frames.some((f) => f.type === SETTINGS && (f.flags & 0x1) === 0));
    const settings = collector.frames.find((f) => f.type === SETTINGS && (f.flags & 0x1) === 0)!.payload;
    const encoder = new HpackEncoder();
    for (let off = 0; off + 6 <= settings.length; off += 6) {
      if (settings.readUInt16BE(off) === 0x1) encoder.setPeerMaxTableSize(settings.readUInt32BE(off + 2));
    }
    expect(encoder.peerTableSize).toBe(0);
    const headers = [":method", "POST", ":scheme", "http", ":path", "/x", ":authority", "localhost", "x-tei-model", "m"];
    const first = encoder.encode(headers);
    const second = encoder.encode(headers);
    expect(first[0]).toBe(0x20);
    expect(second[0]).not.toBe(0x20);
    socket.write(
      Buffer.concat([
        frame(SETTINGS, Flag.ACK, 0, EMPTY),
        frame(HEADERS, END_HEADERS | END_STREAM, 1, first),
        frame(HEADERS, END_HEADERS | END_STREAM, 3, second),
      ]),
    );
    await twoStreams;
    expect(seen).toEqual([headers, headers]);
  });
});
