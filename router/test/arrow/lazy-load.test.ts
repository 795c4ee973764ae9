/**
 * apache-arrow stays unloaded until the first EmbedArrow call: a router process that serves
 * plain calls never resolves it.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, test } from "vitest";

const SERVER = fileURLToPath(new URL("../../src/server.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../../src/config.ts", import.meta.url));

// Runs in a child: notes every module resolution naming apache-arrow, starts and stops a router.
const CODEC = fileURLToPath(new URL("../../src/arrow/arrow-codec.ts", import.meta.url));
const script = (routesFile: string, extra = ""): string => `
import { registerHooks } from "node:module";
let arrow = 0;
registerHooks({ resolve(spec, ctx, next) { if (spec.includes("apache-arrow") || spec.includes("arrow-codec")) arrow++; return next(spec, ctx); } });
const { createRouter } = await import(${JSON.stringify(SERVER)});
const { parseRouterConfig } = await import(${JSON.stringify(CONFIG)});
const { pino } = await import("pino");
const r = createRouter(parseRouterConfig({ listen: "127.0.0.1:0", metricsListen: "127.0.0.1:0", shutdownGraceMs: 50, routesFile: ${JSON.stringify(routesFile)} }), { log: pino({ level: "silent" }) });
await r.start();
await r.stop();
${extra}
console.log(JSON.stringify({ arrow }));
`;

test("starting a router loads no Arrow code", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tei-router-arrow-"));
  try {
    const routesFile = join(dir, "routes.json");
    await writeFile(routesFile, JSON.stringify({ version: 1, routes: [] }));
    const run = async (extra?: string): Promise<unknown> => {
      const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script(routesFile, extra)], {
        cwd: fileURLToPath(new URL("../..", import.meta.url)),
        timeout: 30_000,
      });
      return JSON.parse(stdout.trim().split("\n").pop() as string);
    };
    expect(await run()).toEqual({ arrow: 0 });
    // The probe sees the codec when it is loaded (what the first EmbedArrow call does).
    expect(await run(`await import(${JSON.stringify(CODEC)});`)).not.toEqual({ arrow: 0 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
