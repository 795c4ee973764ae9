import { appendFile, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createInstanceLog, type InstanceLog } from "../src/instance-log.ts";
import { LogRing, parseTeiLogLine } from "../src/log-ring.ts";
import { removeDir, tempDir, waitFor } from "./helpers.ts";

let dir: string | undefined;
let log: InstanceLog | undefined;
afterEach(async () => {
  log?.close();
  log = undefined;
  if (dir) await removeDir(dir);
});

describe("instance logs", () => {
  it("keeps only the newest lines in the ring", () => {
    const ring = new LogRing(3);
    for (let i = 0; i < 5; i++) ring.push({ raw: `l${i}`, offset: i, readAtMs: 0 });
    expect(ring.toArray().map((l) => l.raw)).toEqual(["l2", "l3", "l4"]);
    expect(ring.tail(2).map((l) => l.raw)).toEqual(["l3", "l4"]);
    expect(ring.total).toBe(5);
  });

  it("parses TEI JSON lines and keeps plain text raw", () => {
    const line = '{"timestamp":"2025-01-01T00:00:00Z","level":"INFO","message":"Ready","target":"text_embeddings_router::grpc::server"}';
    expect(parseTeiLogLine(line)).toEqual({
      timestamp: "2025-01-01T00:00:00Z",
      level: "INFO",
      message: "Ready",
      target: "text_embeddings_router::grpc::server",
    });
    expect(parseTeiLogLine('{"level":"WARN","fields":{"message":"Using CPU instead"}}').message).toBe("Using CPU instead");
    expect(parseTeiLogLine("Error: Could not create backend")).toEqual({});
  });

  it("tails the file, notifies new lines, and rotates it past the size limit", async () => {
    dir = await tempDir();
    const file = join(dir, "tei.log");
    await appendFile(file, "old line\n");
    log = await createInstanceLog({ file, ringLines: 100, maxBytes: 200, maxFiles: 2, pollIntervalMs: 20 });
    expect(log.ring.toArray().map((l) => l.raw)).toEqual(["old line"]);
    const seen: string[] = [];
    log.onLine((l) => seen.push(l.raw));
    const start = await log.endPosition();
    for (let i = 0; i < 10; i++) await appendFile(file, `{"level":"INFO","message":"line ${i} ${"x".repeat(30)}"}\n`);
    await waitFor(() => seen.length === 10, 5_000, "10 new lines");
    expect(seen[0]).toContain("line 0");
    expect(log.ring.tail(1)[0]!.message).toMatch(/^line 9/);
    expect(log.ring.toArray().every((l, i, all) => i === 0 || l.offset > all[i - 1]!.offset)).toBe(true);
    expect(log.ring.tail(10)[0]!.offset).toBe(start);
    await waitFor(async () => (await stat(file)).size < 200, 5_000, "rotation");
    expect(await readFile(`${file}.1`, "utf8")).toContain("line");
    // Lines written after the rotation are still read.
    await appendFile(file, "after rotation\n");
    await waitFor(() => seen.includes("after rotation"), 5_000, "a line after the rotation");
  });
});
