import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { DestinationStream } from "pino";
import { describe, expect, it } from "vitest";
import { BatchedLogDestination } from "../src/service/batched-log-destination.ts";
import { createLogger } from "../src/service/logger.ts";

const run = promisify(execFile);

/** A target that keeps each write it receives. */
function recorder(): DestinationStream & { writes: string[] } {
  const writes: string[] = [];
  return { writes, write: (s: string) => void writes.push(s) };
}

describe("batched log destination (the gateway's request log)", () => {
  it("writes whole lines in batches of at most maxBytes, each line once and in order", () => {
    const target = recorder();
    const dest = new BatchedLogDestination({ target, maxBytes: 1000, flushMs: 60_000 });
    const log = createLogger("tei-test", "info", { destination: dest });
    for (let i = 0; i < 100; i++) log.info({ i, model: "BAAI/bge-small-en-v1.5", text: "é".repeat(i % 7) }, "http request");
    dest.close();
    expect(target.writes.length).toBeGreaterThan(5);
    expect(target.writes.length).toBeLessThan(40);
    const lines: number[] = [];
    for (const w of target.writes) {
      expect(Buffer.byteLength(w)).toBeLessThanOrEqual(1000);
      expect(w.endsWith("\n")).toBe(true);
      for (const l of w.split("\n").filter(Boolean)) lines.push((JSON.parse(l) as { i: number }).i);
    }
    expect(lines).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it("holds lines no longer than flushMs, and writes a line longer than a batch on its own", async () => {
    const target = recorder();
    const dest = new BatchedLogDestination({ target, maxBytes: 200, flushMs: 50 });
    dest.write('{"msg":"one"}\n');
    expect(target.writes).toEqual([]);
    await new Promise((r) => setTimeout(r, 150));
    expect(target.writes).toEqual(['{"msg":"one"}\n']);
    const long = `{"msg":"${"x".repeat(300)}"}\n`;
    dest.write('{"msg":"two"}\n');
    dest.write(long);
    expect(target.writes).toEqual(['{"msg":"one"}\n', '{"msg":"two"}\n', long]);
    dest.close();
  });

  it("lines still held are written when the process exits, to a pipe, none lost or cut", async () => {
    const mod = fileURLToPath(new URL("../src/service/index.ts", import.meta.url));
    const script = `
      const { BatchedLogDestination, createLogger } = await import(${JSON.stringify(mod)});
      const log = createLogger("tei-test", "info", { destination: new BatchedLogDestination({ flushMs: 60_000 }) });
      for (let i = 0; i < 500; i++) log.info({ i }, "http request");
      process.exit(0);`;
    const { stderr } = await run(process.execPath, ["--input-type=module", "-e", script], { maxBuffer: 1 << 24 });
    const lines = stderr.split("\n").filter(Boolean);
    expect(lines.map((l) => (JSON.parse(l) as { i: number }).i)).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });
});
