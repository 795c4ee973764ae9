import { describe, expect, test } from "vitest";
import { malformedRequest, malformedTrailers } from "../src/h2/request-headers.ts";

// What grpc-js and connect-node send for a unary call.
const GRPC = [
  ":method",
  "POST",
  ":scheme",
  "http",
  ":path",
  "/tei.v1.Embed/Embed",
  ":authority",
  "127.0.0.1:9001",
  "content-type",
  "application/grpc",
  "te",
  "trailers",
  "grpc-timeout",
  "4999m",
  "user-agent",
  "grpc-node-js/1.12.6",
  "grpc-accept-encoding",
  "identity,deflate,gzip",
  "x-tei-model",
  "BAAI/bge-small-en-v1.5",
  "trace-bin",
  "AAEC/w==",
  "empty",
  "",
];
const PSEUDO = GRPC.slice(0, 8);
const REGULAR = GRPC.slice(8);
const withField = (name: string, value: string): string[] => [...GRPC, name, value];
const withoutPseudo = (name: string): string[] => {
  const i = PSEUDO.indexOf(name);
  return [...PSEUDO.slice(0, i), ...PSEUDO.slice(i + 2), ...REGULAR];
};

const TOKEN_LOWER = /^[!#$%&'*+\-.^_`|~0-9a-z]$/;
const latin1 = (c: number): string => String.fromCharCode(c);

describe("requests", () => {
  test("a gRPC client's request is well-formed", () => {
    expect(malformedRequest(GRPC)).toBeNull();
    expect(malformedRequest(withField("te", "Trailers"))).toBeNull();
    expect(malformedRequest(withField("x-obs-text", "caf\u00e9"))).toBeNull();
    expect(malformedRequest(withField("x-inner-space", "a b\tc"))).toBeNull();
    expect(malformedRequest(withoutPseudo(":authority"))).toBeNull();
  });

  test("a field name may hold lowercase token characters only", () => {
    for (let c = 0; c < 256; c++) {
      const why = malformedRequest(withField(`x-${latin1(c)}`, "1"));
      if (TOKEN_LOWER.test(latin1(c))) expect(why, `0x${c.toString(16)}`).toBeNull();
      else expect(why, `0x${c.toString(16)}`).toContain("not a lowercase token");
    }
    expect(malformedRequest(withField("X-Trace-Id", "1"))).toBe('field name "X-Trace-Id" is not a lowercase token');
    expect(malformedRequest(withField("", "1"))).toContain("not a lowercase token");
  });

  test("a field value may hold no control character but HTAB, and no whitespace at either end", () => {
    for (let c = 0; c < 256; c++) {
      const why = malformedRequest(withField("x-v", `a${latin1(c)}b`));
      const control = (c < 0x20 && c !== 0x09) || c === 0x7f;
      expect(why === null, `0x${c.toString(16)}`).toBe(!control);
    }
    for (const v of [" a", "a ", "\ta", "a\t", " ", "\t"]) expect(malformedRequest(withField("x-v", v)), JSON.stringify(v)).toContain("surrounding whitespace");
    expect(malformedRequest(withField("x-v", "a\r\nx-injected: 1"))).toContain("control character");
    // Pseudo-header values too.
    expect(malformedRequest([":method", "POST", ":scheme", "http", ":path", "/a\nb"])).toContain(":path");
  });

  test.each(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"])("connection-specific %s is malformed", (name) => {
    expect(malformedRequest(withField(name, "x"))).toBe(`connection-specific field ${name}`);
  });

  test("fields whose names merely resemble connection-specific ones are not", () => {
    for (const name of ["upgrade-insecure-requests", "connections", "keep-alives", "tea", "t"]) expect(malformedRequest(withField(name, "1")), name).toBeNull();
  });

  test("te may only say trailers", () => {
    const te = (v: string): string | null => malformedRequest([...PSEUDO, "te", v]);
    expect(te("trailers")).toBeNull();
    expect(te("TRAILERS")).toBeNull();
    for (const v of ["gzip", "trailers, deflate", "", "trailer"]) expect(te(v), v).toContain("te must be");
  });

  test("pseudo-headers come first, once each, and only the request's", () => {
    expect(malformedRequest([...PSEUDO.slice(0, 6), ...REGULAR, ...PSEUDO.slice(6)])).toBe("pseudo-header :authority after a regular field");
    for (const name of [":method", ":scheme", ":path", ":authority"]) {
      expect(malformedRequest([...PSEUDO, name, PSEUDO[PSEUDO.indexOf(name) + 1]!, ...REGULAR])).toBe(`${name} given twice`);
    }
    for (const name of [":status", ":protocol", ":foo", ":", ":Method"]) {
      expect(malformedRequest([...PSEUDO, name, "x", ...REGULAR]), name).toContain("is not one of a request");
    }
  });

  test(":method, :scheme and a non-empty :path are required", () => {
    expect(malformedRequest(withoutPseudo(":method"))).toBe("no :method");
    expect(malformedRequest(withoutPseudo(":scheme"))).toBe("no :scheme");
    expect(malformedRequest(withoutPseudo(":path"))).toBe("no :path");
    expect(malformedRequest([":method", "POST", ":scheme", "http", ":path", ""])).toBe(":path is empty");
    expect(malformedRequest([])).toBe("no :method");
  });

  test("CONNECT names only its authority", () => {
    expect(malformedRequest([":method", "CONNECT", ":authority", "backend:443"])).toBeNull();
    expect(malformedRequest([":method", "CONNECT", ":authority", "backend:443", ":path", "/"])).toBe("CONNECT with :scheme or :path");
    expect(malformedRequest([":method", "CONNECT"])).toBe("CONNECT without :authority");
  });
});

describe("trailers", () => {
  test("regular fields that end the stream are well-formed", () => {
    expect(malformedTrailers(["x-checksum", "abc", "grpc-status", "0"], true)).toBeNull();
    expect(malformedTrailers([], true)).toBeNull();
  });

  test("trailers must end the stream and carry no pseudo-header", () => {
    expect(malformedTrailers(["x-a", "1"], false)).toBe("a second header section that does not end the stream");
    expect(malformedTrailers([":path", "/x"], true)).toBe('pseudo-header ":path" in trailers');
  });

  test("their fields follow the same rules as the request's", () => {
    expect(malformedTrailers(["X-A", "1"], true)).toContain("not a lowercase token");
    expect(malformedTrailers(["x-a", "1\u0000"], true)).toContain("control character");
    expect(malformedTrailers(["connection", "close"], true)).toBe("connection-specific field connection");
  });
});
