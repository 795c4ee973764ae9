import { describe, expect, test } from "vitest";
// A seeded PRNG so that random cases reproduce.
import { mulberry32 } from "../../test/fake-tei/fake-model.ts";
import { HpackDecoder, HpackError } from "../src/h2/hpack-decoder.ts";
import { HpackEncoder } from "../src/h2/hpack-encoder.ts";
import { huffmanDecode, huffmanEncode } from "../src/h2/huffman.ts";
import { HUFFMAN_CODE_LENGTHS } from "../src/h2/huffman-table.ts";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");

/** The dynamic table's entries, newest first, read with indexed fields (which change nothing). */
function dynamicEntries(d: HpackDecoder): string[] {
  const indices = Array.from({ length: d.dynamicTableLength }, (_, k) => 0x80 | (62 + k));
  return d.decode(Buffer.from(indices));
}

function expectHpackError(d: HpackDecoder, block: Uint8Array, message?: RegExp): void {
  let thrown: unknown;
  try {
    d.decode(block);
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(HpackError);
  if (message) expect((thrown as Error).message).toMatch(message);
}

/** A literal-without-indexing field whose name is raw and whose value is the given Huffman bytes. */
const huffmanValueBlock = (code: Uint8Array): Buffer => Buffer.concat([Buffer.from([0x00, 0x01, 0x76]), hpackInteger(0x80, 7, code.length), code]);

describe("RFC 7541 Appendix C examples", () => {
  test("C.2: one field of each representation", () => {
    const d = new HpackDecoder();
    expect(d.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"))).toEqual(["custom-key", "custom-header"]);
    expect(d.dynamicTableSize).toBe(55);
    const fresh = new HpackDecoder();
    expect(fresh.decode(hex("040c 2f73 616d 706c 652f 7061 7468"))).toEqual([":path", "/sample/path"]);
    expect(fresh.decode(hex("1008 7061 7373 776f 7264 0673 6563 7265 74"))).toEqual(["password", "secret"]);
    expect(fresh.dynamicTableLength).toBe(0);
    expect(fresh.decode(hex("82"))).toEqual([":method", "GET"]);
  });

  const requests = [
    [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "www.example.com"],
    [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "www.example.com", "cache-control", "no-cache"],
    [":method", "GET", ":scheme", "https", ":path", "/index.html", ":authority", "www.example.com", "custom-key", "custom-value"],
  ];
  const requestTables = [
    { size: 57, entries: [":authority", "www.example.com"] },
    { size: 110, entries: ["cache-control", "no-cache", ":authority", "www.example.com"] },
    { size: 164, entries: ["custom-key", "custom-value", "cache-control", "no-cache", ":authority", "www.example.com"] },
  ];
  const date21 = "Mon, 21 Oct 2013 20:13:21 GMT";
  const date22 = "Mon, 21 Oct 2013 20:13:22 GMT";
  const cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
  const responses = [
    [":status", "302", "cache-control", "private", "date", date21, "location", "https://www.example.com"],
    [":status", "307", "cache-control", "private", "date", date21, "location", "https://www.example.com"],
    [":status", "200", "cache-control", "private", "date", date22, "location", "https://www.example.com", "content-encoding", "gzip", "set-cookie", cookie],
  ];
  const responseTables = [
    { size: 222, entries: ["location", "https://www.example.com", "date", date21, "cache-control", "private", ":status", "302"] },
    // :status 302 was evicted to make room for :status 307.
    { size: 222, entries: [":status", "307", "location", "https://www.example.com", "date", date21, "cache-control", "private"] },
    // Three insertions evicted four entries.
    { size: 215, entries: ["set-cookie", cookie, "content-encoding", "gzip", "date", date22] },
  ];
  const cases = [
    {
      name: "C.3: requests without Huffman coding",
      tableSize: 4096,
      expected: requests,
      tables: requestTables,
      blocks: [
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
      ],
    },
    {
      name: "C.4: requests with Huffman coding",
      tableSize: 4096,
      expected: requests,
      tables: requestTables,
      blocks: ["8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", "8286 84be 5886 a8eb 1064 9cbf", "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"],
    },
    {
      name: "C.5: responses without Huffman coding, 256-byte table with eviction",
      tableSize: 256,
      expected: responses,
      tables: responseTables,
      blocks: [
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
      ],
    },
    {
      name: "C.6: responses with Huffman coding, 256-byte table with eviction",
      tableSize: 256,
      expected: responses,
      tables: responseTables,
      blocks: [
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
      ],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const d = new HpackDecoder(c.tableSize);
      c.blocks.forEach((block, i) => {
        expect(d.decode(hex(block))).toEqual(c.expected[i]);
        expect(d.dynamicTableSize).toBe(c.tables[i]!.size);
        expect(dynamicEntries(d)).toEqual(c.tables[i]!.entries);
      });
    });
  }

  test("a plain Uint8Array view decodes like a Buffer", () => {
    const bytes = hex("ffff 8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff");
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset + 2, bytes.length - 2);
    expect(new HpackDecoder().decode(view)).toEqual(requests[0]);
  });
});

describe("dynamic table", () => {
  test("an entry larger than the table empties it but is still a header", () => {
    const d = new HpackDecoder(100);
    d.decode(Buffer.from([0x40, 0x01, 0x61, 0x01, 0x62]));
    expect(d.dynamicTableLength).toBe(1);
    const big = "x".repeat(80);
    expect(d.decode(Buffer.concat([Buffer.from([0x40, 0x01, 0x61, 80]), Buffer.from(big)]))).toEqual(["a", big]);
    expect(d.dynamicTableLength).toBe(0);
    expect(d.dynamicTableSize).toBe(0);
  });

  test("a size update evicts, and a later one may grow the table back up to the maximum", () => {
    const d = new HpackDecoder();
    d.decode(hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"));
    expect(d.decode(hex("20"))).toEqual([]);
    expect(d.dynamicTableLength).toBe(0);
    expectHpackError(d, hex("be"), /beyond the table/);
    // 4096 = 31 + 0x61 + (0x1f << 7): the maximum is allowed, then fields follow.
    expect(d.decode(hex("3fe11f 82"))).toEqual([":method", "GET"]);
  });

  test("more entries than the initial ring holds keep their order", () => {
    const d = new HpackDecoder(1 << 16);
    const sent: string[] = [];
    for (let i = 0; i < 300; i++) {
      const name = `n${i}`;
      const value = `v${i}`;
      sent.push(name, value);
      expect(d.decode(Buffer.concat([Buffer.from([0x40, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]))).toEqual([
        name,
        value,
      ]);
    }
    const newestFirst: string[] = [];
    for (let i = sent.length - 2; i >= 0; i -= 2) newestFirst.push(sent[i]!, sent[i + 1]!);
    const indices = Buffer.concat(Array.from({ length: 300 }, (_, k) => hpackInteger(0x80, 7, 62 + k)));
    expect(d.decode(indices)).toEqual(newestFirst);
  });

  test("a decoder with a zero-size table indexes nothing", () => {
    const d = new HpackDecoder(0);
    expect(d.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"))).toEqual(["custom-key", "custom-header"]);
    expectHpackError(d, hex("be"), /beyond the table/);
  });
});

/** An HPACK integer (§5.1) with `prefixBits` of prefix, OR-ed into `first`. */
function hpackInteger(first: number, prefixBits: number, value: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const bytes = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

describe("Huffman coding", () => {
  test("every octet, and long random strings, survive encode then decode", () => {
    const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
    const code = huffmanEncode(all);
    expect(huffmanDecode(code, 0, code.length)).toBe(all);
    const rand = mulberry32(7);
    for (let i = 0; i < 300; i++) {
      const s = String.fromCharCode(...Array.from({ length: Math.floor(rand() * 400) }, () => Math.floor(rand() * 256)));
      const c = huffmanEncode(s);
      expect(new HpackDecoder().decode(huffmanValueBlock(c))).toEqual(["v", s]);
    }
  });

  test("padding: up to seven one-bits are accepted, anything else is an HpackError", () => {
    const d = new HpackDecoder();
    expect(d.decode(huffmanValueBlock(Buffer.from([0x1f])))).toEqual(["v", "a"]); // 00011 + 111
    expectHpackError(d, huffmanValueBlock(Buffer.from([0x18])), /Huffman/); // 00011 + 000: padding not EOS bits
    expectHpackError(d, huffmanValueBlock(Buffer.from([0x1f, 0xff])), /Huffman/); // 11 bits of padding
    // Symbol 199 has a 25-bit code: exactly seven bits of padding, the most allowed.
    expect(HUFFMAN_CODE_LENGTHS[199]).toBe(25);
    const seven = huffmanEncode("\u00c7");
    expect(d.decode(huffmanValueBlock(seven))).toEqual(["v", "\u00c7"]);
    expectHpackError(d, huffmanValueBlock(Buffer.concat([seven, Buffer.from([0xff])])), /Huffman/);
    // A code cut short: 11111110 is the start of the 10-bit code of '!', not EOS padding.
    expectHpackError(d, huffmanValueBlock(Buffer.from([0xfe])), /Huffman/);
  });

  test("the EOS symbol inside a string is an HpackError", () => {
    expectHpackError(new HpackDecoder(), huffmanValueBlock(Buffer.from([0xff, 0xff, 0xff, 0xff])), /Huffman/);
    // EOS after a symbol, not at a byte boundary: '0' (00000) then 30 ones, padding 1 bit.
    expectHpackError(new HpackDecoder(), huffmanValueBlock(Buffer.from([0x07, 0xff, 0xff, 0xff, 0xff])), /Huffman/);
  });

  test("an empty Huffman string is the empty string", () => {
    expect(new HpackDecoder().decode(Buffer.from([0x00, 0x80, 0x80]))).toEqual(["", ""]);
  });
});

describe("malformed blocks are HpackErrors", () => {
  test("truncation anywhere inside a field", () => {
    for (const block of [hex("ff"), hex("40"), hex("4001"), hex("400161"), hex("40016101"), hex("410f7777"), hex("0f"), hex("3f"), hex("00 81")]) {
      expectHpackError(new HpackDecoder(), block, /truncated/);
    }
    // Every cut of a real block either ends on a field boundary or is an HpackError.
    const whole = hex("88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf");
    for (let cut = 0; cut < whole.length; cut++) {
      const d = new HpackDecoder();
      d.decode(hex("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3"));
      try {
        d.decode(whole.subarray(0, cut));
      } catch (e) {
        expect(e).toBeInstanceOf(HpackError);
      }
    }
  });

  test("index 0, and indices beyond the static and dynamic tables", () => {
    expectHpackError(new HpackDecoder(), hex("80"), /index 0/);
    expectHpackError(new HpackDecoder(), hex("be"), /beyond the table/);
    expectHpackError(new HpackDecoder(), hex("7e 01 61"), /beyond the table/); // indexed name 62
    expectHpackError(new HpackDecoder(), hex("0f 80 01 01 61"), /beyond the table/); // name index 143
    expectHpackError(new HpackDecoder(), hex("ff ff ff ff 07"), /beyond the table/);
  });

  test("a size update above the advertised maximum, or after a field", () => {
    expectHpackError(new HpackDecoder(), hex("3fe21f"), /exceeds the advertised maximum 4096/); // 4097
    expectHpackError(new HpackDecoder(256), hex("3fe201"), /exceeds the advertised maximum 256/); // 257
    expectHpackError(new HpackDecoder(), hex("82 20"), /after a header field/);
  });

  test("integers that overflow are refused, not wrapped", () => {
    expectHpackError(new HpackDecoder(), hex("ff ffffffffffffffff 7f"), /too long/);
    expectHpackError(new HpackDecoder(), hex("ff ffffffff 7f"), /too large/);
    expectHpackError(new HpackDecoder(), hex("00 7f ffffffff 0f"), /too large|truncated/);
  });

  test("random and mutated input never throws anything but HpackError", () => {
    const rand = mulberry32(42);
    const seeds = [
      hex("8286 84be 5886 a8eb 1064 9cbf"),
      hex("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3"),
    ];
    const d = new HpackDecoder(256);
    for (let i = 0; i < 5000; i++) {
      let block: Buffer;
      if (i % 2 === 0) {
        block = Buffer.from(Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)));
      } else {
        block = Buffer.from(seeds[i % 4 === 1 ? 0 : 1]!);
        for (let m = 0; m < 3; m++) block[Math.floor(rand() * block.length)] = Math.floor(rand() * 256);
      }
      try {
        const out = d.decode(block);
        expect(out.length % 2).toBe(0);
      } catch (e) {
        if (!(e instanceof HpackError)) throw e;
      }
    }
  });
});

describe("HpackEncoder", () => {
  test("exact static matches are one byte, static names are indexed, other names are literal", () => {
    const e = new HpackEncoder();
    expect(e.encode([":method", "POST", ":status", "200", ":scheme", "http"])).toEqual(hex("83 88 86"));
    // content-type is static index 31: 4-bit prefix 15, then 16.
    expect(e.encode(["content-type", "application/grpc"])).toEqual(Buffer.concat([hex("0f 10 10"), Buffer.from("application/grpc")]));
    expect(e.encode(["grpc-status", "0"])).toEqual(Buffer.concat([hex("00 0b"), Buffer.from("grpc-status"), hex("01"), Buffer.from("0")]));
    // Credentials go out "never indexed" so that no intermediary puts them in a table.
    expect(e.encode(["authorization", "Bearer t"])[0]).toBe(0x10 | 0x0f);
    expect(e.encode([])).toEqual(Buffer.alloc(0));
    expect(() => e.encode(["lonely-name"])).toThrow(RangeError);
  });

  test("round trip: the decoder yields exactly the list encoded, and its table stays empty", () => {
    const rand = mulberry32(1234);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const names = [
      ":status",
      ":method",
      ":path",
      ":authority",
      "content-type",
      "te",
      "grpc-status",
      "grpc-message",
      "authorization",
      "x-tei-model",
      "set-cookie",
      "accept-encoding",
    ];
    const values = ["200", "POST", "GET", "/", "", "gzip, deflate", "trailers", "application/grpc", "500", "404"];
    const randomString = (max: number) => String.fromCharCode(...Array.from({ length: Math.floor(rand() * max) }, () => Math.floor(rand() * 256)));
    const d = new HpackDecoder();
    const e = new HpackEncoder();
    for (let i = 0; i < 500; i++) {
      const list: string[] = [];
      const fields = Math.floor(rand() * 12);
      for (let f = 0; f < fields; f++) {
        const name = rand() < 0.6 ? pick(names) : randomString(rand() < 0.1 ? 400 : 20);
        const value = rand() < 0.4 ? pick(values) : randomString(rand() < 0.1 ? 5000 : 40);
        list.push(name, value);
      }
      expect(d.decode(e.encode(list))).toEqual(list);
    }
    expect(d.dynamicTableLength).toBe(0);
  });

  test("a new peer table size makes the next block, and only it, open with a size update to 0", () => {
    const e = new HpackEncoder();
    e.setPeerMaxTableSize(0);
    expect(e.peerTableSize).toBe(0);
    expect(e.encode([":status", "200"])).toEqual(hex("20 88"));
    expect(e.encode([":status", "200"])).toEqual(hex("88"));
    expect(() => e.setPeerMaxTableSize(-1)).toThrow(RangeError);
  });
});
