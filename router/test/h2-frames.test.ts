import { describe, expect, test } from "vitest";
import { mulberry32 } from "../../test/fake-tei/fake-model.ts";
import { FrameParser, FrameSizeError, FrameType, frame, goawayFrame, rstStreamFrame, settingsFrame, windowUpdateFrame } from "../src/h2/frames.ts";

interface Seen {
  type: number;
  flags: number;
  id: number;
  payload: string;
}

function parseAll(chunks: Buffer[], max?: number): Seen[] {
  const seen: Seen[] = [];
  const p = new FrameParser((type, flags, id, payload) => seen.push({ type, flags, id, payload: payload.toString("hex") }), max);
  for (const c of chunks) p.push(c);
  return seen;
}

describe("HTTP/2 frame parsing", () => {
  const stream = Buffer.concat([
    settingsFrame([
      [4, 1 << 20],
      [3, 100],
    ]),
    frame(FrameType.HEADERS, 0x4, 1, Buffer.from("header block")),
    frame(FrameType.DATA, 0x0, 1, Buffer.alloc(3000, 7)),
    frame(FrameType.DATA, 0x1, 1, Buffer.alloc(0)),
    windowUpdateFrame(0, 12345),
    rstStreamFrame(3, 8),
    goawayFrame(5, 0, "bye"),
  ]);
  const whole = parseAll([stream]);

  test("reads every frame of a stream received in one chunk", () => {
    expect(whole.map((f) => [f.type, f.flags, f.id])).toEqual([
      [FrameType.SETTINGS, 0, 0],
      [FrameType.HEADERS, 4, 1],
      [FrameType.DATA, 0, 1],
      [FrameType.DATA, 1, 1],
      [FrameType.WINDOW_UPDATE, 0, 0],
      [FrameType.RST_STREAM, 0, 3],
      [FrameType.GOAWAY, 0, 0],
    ]);
    expect(Buffer.from(whole[4]!.payload, "hex").readUInt32BE(0)).toBe(12345);
    expect(Buffer.from(whole[6]!.payload, "hex").subarray(8).toString()).toBe("bye");
  });

  test("gives the same frames however TCP cuts the bytes (every split point, and random chunkings)", () => {
    for (let cut = 1; cut < stream.length; cut++) {
      expect(parseAll([stream.subarray(0, cut), stream.subarray(cut)])).toEqual(whole);
    }
    const rand = mulberry32(11);
    for (let round = 0; round < 200; round++) {
      const chunks: Buffer[] = [];
      for (let off = 0; off < stream.length; ) {
        const n = 1 + Math.floor(rand() * 64);
        chunks.push(stream.subarray(off, off + n));
        off += n;
      }
      expect(parseAll(chunks)).toEqual(whole);
    }
  });

  test("refuses a frame longer than the maximum frame size", () => {
    const big = frame(FrameType.DATA, 0, 1, Buffer.alloc(16_385));
    expect(() => parseAll([big])).toThrow(FrameSizeError);
    expect(parseAll([big], 32_768)).toHaveLength(1);
  });
});
