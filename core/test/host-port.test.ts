import { describe, expect, it } from "vitest";
import { bracketHost, formatHostPort, parseHostPort } from "../src/host-port.ts";

describe("listen addresses", () => {
  it.each([
    ["0.0.0.0:9000", { host: "0.0.0.0", port: 9000 }],
    ["127.0.0.1:0", { host: "127.0.0.1", port: 0 }],
    ["cp.internal:9000", { host: "cp.internal", port: 9000 }],
    [":9001", { host: "0.0.0.0", port: 9001 }],
    ["[::1]:9101", { host: "::1", port: 9101 }],
    ["[::]:65535", { host: "::", port: 65535 }],
    ["::1:9000", { host: "::1", port: 9000 }],
    [" 10.0.0.5:9101 ", { host: "10.0.0.5", port: 9101 }],
  ])("reads %j", (text, expected) => expect(parseHostPort(text)).toEqual(expected));

  it.each([["nowhere"], ["host:"], [":"], ["host:65536"], ["host:123456"], ["a b:80"], ["[::1]"], ["[nothex]:80"], ["host:port"], [""]])("refuses %j", (text) =>
    expect(parseHostPort(text)).toBeUndefined(),
  );

  it("writes IPv6 hosts in brackets, so the address parses back", () => {
    expect(bracketHost("::1")).toBe("[::1]");
    expect(bracketHost("10.0.0.5")).toBe("10.0.0.5");
    for (const text of ["[::1]:9101", "10.0.0.5:80"]) expect(formatHostPort(parseHostPort(text)!)).toBe(text);
  });
});
