#!/usr/bin/env node
/**
 * Entry point of the fake `text-embeddings-router`; the start-up sequence is in start.ts.
 * Run it through bin/text-embeddings-router (or `node test/fake-tei/main.ts ARGS`).
 */
const original = process.env.FAKE_TEI_ORIGINAL_NODE_COMPILE_CACHE;
if (original !== undefined) {
  // Undo the bin script's shebang settings: the fake must see (and record) the exact environment.
  if (original === "") delete process.env.NODE_COMPILE_CACHE;
  else process.env.NODE_COMPILE_CACHE = original;
  delete process.env.FAKE_TEI_ORIGINAL_NODE_COMPILE_CACHE;
}
await import("./start.ts");
