import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const CHILD = fileURLToPath(new URL("./fixtures/service-child.ts", import.meta.url));

/** Starts the kit's fixture service with a clean TEI_FLEET_* environment. */
function start(args: string[], env: Record<string, string> = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TEI_FLEET_")));
  const child = spawn(process.execPath, [CHILD, ...args], { env: { ...clean, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += String(d);
  });
  child.stderr.on("data", (d) => {
    stderr += String(d);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const printed = async (text: string) => {
    for (let i = 0; i < 400 && !stdout.includes(text); i++) await new Promise((r) => setTimeout(r, 25));
    expect(stdout).toContain(text);
  };
  return { child, exited, printed, stdout: () => stdout, stderr: () => stderr };
}

/** The JSON log lines the child wrote to stderr. */
const logLines = (stderr: string) =>
  stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe("a service started with the kit", () => {
  it("exits 2 before starting when a setting is bad, naming the flag and the variable of each", async () => {
    const bad = start(["--close-ms", "-1"], { TEI_FLEET_LISTEN: "nowhere", TEI_FLEET_SECRET_TOKEN: "x" });
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain("kit-child: invalid configuration:\n");
    expect(bad.stderr()).toContain("  --listen / TEI_FLEET_LISTEN: must be HOST:PORT");
    expect(bad.stderr()).toContain("  --close-ms / TEI_FLEET_CLOSE_MS: must be at least 0");
    expect(bad.stderr()).toContain("  TEI_FLEET_SECRET_TOKEN: must be a whole number");
    expect(bad.stdout()).not.toContain("ready");
  });

  it("exits 2 on an unknown flag, and 0 after --help", async () => {
    const unknown = start(["--bogus"]);
    expect(await unknown.exited).toBe(2);
    expect(unknown.stderr()).toContain("unknown option '--bogus'");
    const help = start(["--help"]);
    expect(await help.exited).toBe(0);
    expect(help.stdout()).toContain("--close-ms <ms>");
    expect(help.stdout()).toContain("TEI_FLEET_SECRET_TOKEN");
  });

  it("on SIGTERM closes gracefully once and exits 0, logging as its service on stderr", async () => {
    const svc = start([], { TEI_FLEET_LISTEN: "127.0.0.1:7" });
    await svc.printed('ready {"host":"127.0.0.1","port":7}');
    svc.child.kill("SIGTERM");
    expect(await svc.exited).toBe(0);
    expect(svc.stdout().split("closing").length - 1).toBe(1);
    expect(logLines(svc.stderr()).map((l) => [l.service, l.msg, l.signal])).toEqual([
      ["kit-child", "shutting down", "SIGTERM"],
      ["kit-child", "stopped", undefined],
    ]);
  });

  it("exits at once with 128 + the signal's number on a second signal during a slow close", async () => {
    const svc = start(["--close-ms", "30000"]);
    await svc.printed("ready");
    svc.child.kill("SIGINT");
    await svc.printed("closing");
    svc.child.kill("SIGINT");
    expect(await svc.exited).toBe(130);
    expect(svc.stdout().split("closing").length - 1).toBe(1);
    expect(logLines(svc.stderr()).at(-1)).toMatchObject({ msg: "second signal during shutdown: exiting at once", signal: "SIGINT" });
  });

  it("exits 1 when the graceful close fails", async () => {
    const svc = start(["--fail-close", "true"]);
    await svc.printed("ready");
    svc.child.kill("SIGTERM");
    expect(await svc.exited).toBe(1);
    expect(logLines(svc.stderr()).at(-1)).toMatchObject({ msg: "shutdown failed", err: { message: "close failed on purpose" } });
  });
});
