import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, REDACTED } from "../src/service/logger.ts";

/** A logger whose lines are kept in memory. */
function captured(level = "info") {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  return { logger: createLogger("tei-test", level, { destination, bindings: { node: "gpu-1" } }), lines };
}

describe("service logger", () => {
  it("writes JSON lines with the service field and the service's bindings", () => {
    const { logger, lines } = captured();
    logger.child({ component: "http" }).info({ port: 1 }, "listening");
    logger.debug("not at info");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, service: "tei-test", node: "gpu-1", component: "http", port: 1, msg: "listening" });
  });

  it("never writes a token or an authorization header, wherever a log call puts it", () => {
    const { logger, lines } = captured("trace");
    const secret = "tok_0123456789abcdef";
    logger.info({ req: { method: "GET", url: "/instances", headers: { authorization: `Bearer ${secret}`, cookie: secret } } }, "request");
    logger.info({ headers: { authorization: `Bearer ${secret}` } }, "proxied");
    logger.warn({ token: secret, adminToken: secret, joinToken: secret, readToken: secret }, "tokens");
    logger.error({ config: { joinToken: secret, adminToken: secret }, call: { token: secret, authorization: secret } }, "nested");
    logger.child({ authorization: secret }).info("child bindings");
    const text = lines.join("\n");
    expect(lines).toHaveLength(5);
    expect(text).not.toContain(secret);
    expect(JSON.parse(lines[0]!).req).toEqual({ method: "GET", url: "/instances", headers: { authorization: REDACTED, cookie: REDACTED } });
    expect(JSON.parse(lines[3]!).config).toEqual({ joinToken: REDACTED, adminToken: REDACTED });
  });
});
