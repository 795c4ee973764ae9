import { describe, expect, it } from "vitest";
import { z } from "zod";
import { buildCommand, parseFlags } from "../src/service/command-line.ts";
import { ConfigError } from "../src/service/config-error.ts";
import { type OptionTable, resolveOptions } from "../src/service/config-option.ts";
import { fromParser, hostPort, httpUrl, integer, logLevel } from "../src/service/option-schemas.ts";

const table = {
  listen: {
    flag: "--listen",
    placeholder: "host:port",
    env: "TEI_FLEET_LISTEN",
    schema: hostPort("0.0.0.0:9000"),
    default: "0.0.0.0:9000",
    doc: "API address",
  },
  controlPlane: {
    flag: "--control-plane",
    placeholder: "url",
    env: "TEI_FLEET_CONTROL_PLANE",
    schema: httpUrl("http://cp:9000"),
    required: true,
    doc: "control plane",
  },
  capacity: { flag: "--capacity", placeholder: "n", env: "TEI_FLEET_CAPACITY", schema: integer(1, 100), default: "64", doc: "most processes" },
  label: { flag: "--label", placeholder: "k=v", env: "TEI_FLEET_LABELS", schema: z.array(z.string()).default([]), repeatable: true, doc: "node label" },
  logLevel: { flag: "--log-level", placeholder: "level", env: "TEI_FLEET_LOG_LEVEL", schema: logLevel(), default: "info", doc: "log level" },
  joinToken: { env: "TEI_FLEET_JOIN_TOKEN", schema: z.string().min(16, "must be at least 16 characters").optional(), doc: "join token" },
  retention: { env: "TEI_FLEET_RETENTION_MS", schema: integer(0).optional(), doc: "retention" },
} satisfies OptionTable;

const spec = { name: "tei-test", description: "A test service.", options: table, epilog: "See the README." };
const argv = (...args: string[]) => ["node", "tei-test", ...args];
const required = { TEI_FLEET_CONTROL_PLANE: "http://cp:9000/" };

function problems(flags: Parameters<typeof resolveOptions<typeof table>>[1], env: Record<string, string>): string[] {
  try {
    resolveOptions(table, flags, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.setting}: ${p.message}`);
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("service configuration", () => {
  it("fills in the defaults and parses them like given values", () => {
    expect(resolveOptions(table, {}, required)).toEqual({
      listen: { host: "0.0.0.0", port: 9000 },
      controlPlane: "http://cp:9000",
      capacity: 64,
      label: [],
      logLevel: "info",
      joinToken: undefined,
      retention: undefined,
    });
  });

  it("reads each setting's TEI_FLEET_* twin when its flag is absent, and the flag wins when both are given", () => {
    const env = { ...required, TEI_FLEET_LISTEN: "127.0.0.1:1", TEI_FLEET_CAPACITY: "8", TEI_FLEET_LABELS: "zone=a, gpu=h100", TEI_FLEET_RETENTION_MS: "0" };
    expect(resolveOptions(table, {}, env)).toMatchObject({ listen: { host: "127.0.0.1", port: 1 }, capacity: 8, label: ["zone=a", "gpu=h100"], retention: 0 });
    expect(resolveOptions(table, { listen: "[::1]:2", capacity: "9", label: ["x=y"] }, env)).toMatchObject({
      listen: { host: "::1", port: 2 },
      capacity: 9,
      label: ["x=y"],
    });
  });

  it("treats an empty variable as unset", () => {
    expect(resolveOptions(table, {}, { ...required, TEI_FLEET_CAPACITY: "", TEI_FLEET_LOG_LEVEL: " " })).toMatchObject({ capacity: 64, logLevel: "info" });
  });

  it("names every bad setting by its flag and its variable, all at once", () => {
    expect(
      problems({ listen: "nowhere" }, { TEI_FLEET_CAPACITY: "0", TEI_FLEET_LOG_LEVEL: "loud", TEI_FLEET_JOIN_TOKEN: "short", TEI_FLEET_RETENTION_MS: "soon" }),
    ).toEqual([
      "--listen / TEI_FLEET_LISTEN: must be HOST:PORT or [IPv6]:PORT with a port from 0 to 65535, e.g. 0.0.0.0:9000 (got 'nowhere')",
      "--control-plane / TEI_FLEET_CONTROL_PLANE: is required",
      "--capacity / TEI_FLEET_CAPACITY: must be at least 1",
      "--log-level / TEI_FLEET_LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent",
      "TEI_FLEET_JOIN_TOKEN: must be at least 16 characters",
      "TEI_FLEET_RETENTION_MS: must be a whole number",
    ]);
    expect(problems({ controlPlane: "redis://x" }, {})).toEqual(["--control-plane / TEI_FLEET_CONTROL_PLANE: must be an http(s) URL, e.g. http://cp:9000"]);
  });

  it("reads whole numbers in decimal digits only", () => {
    expect(resolveOptions(table, {}, { ...required, TEI_FLEET_CAPACITY: " +12 " }).capacity).toBe(12);
    for (const text of ["1e1", "0x10", "5.0", "5.5", "ten", "1 2"]) {
      expect(problems({}, { ...required, TEI_FLEET_CAPACITY: text }), text).toEqual(["--capacity / TEI_FLEET_CAPACITY: must be a whole number"]);
    }
    expect(problems({ capacity: "101" }, required)).toEqual(["--capacity / TEI_FLEET_CAPACITY: must be at most 100"]);
  });

  it("never repeats a rejected value of an environment-only setting (they hold secrets)", () => {
    const [message] = problems({}, { ...required, TEI_FLEET_JOIN_TOKEN: "s3cret" });
    expect(message).not.toContain("s3cret");
  });

  it("reads values through an existing parser, keeping its message", () => {
    const range = fromParser((text) => (/^\d+-\d+$/.test(text) ? { range: text } : "must be START-END"));
    const thrower = fromParser((text): { n: number } => {
      throw new Error(`"${text}" is no good`);
    });
    expect(range.parse("1-2")).toEqual({ range: "1-2" });
    expect(range.safeParse("x").error?.issues[0]?.message).toBe("must be START-END");
    expect(thrower.safeParse("x").error?.issues[0]?.message).toBe('"x" is no good');
  });
});

describe("service command line", () => {
  it("collects flags by setting name, repeatable ones as lists, and leaves absent ones to the environment", () => {
    expect(parseFlags(spec, argv("--listen", "127.0.0.1:5", "--control-plane", "http://a", "--label", "a=1", "--label", "b=2"))).toEqual({
      listen: "127.0.0.1:5",
      controlPlane: "http://a",
      label: ["a=1", "b=2"],
    });
  });

  it("refuses unknown flags and arguments", () => {
    for (const args of [["--bogus"], ["stray"], ["--listen"]]) {
      expect(() =>
        buildCommand(spec)
          .configureOutput({ writeErr: () => {} })
          .parse(argv(...args)),
      ).toThrow();
    }
  });

  it("generates --help from the table: each flag with its variable and default, then the environment-only settings", () => {
    let out = "";
    buildCommand(spec)
      .configureOutput({
        writeOut: (text) => {
          out += text;
        },
      })
      .outputHelp();
    const help = out.replace(/\s+/g, " "); // commander wraps lines at the terminal's width
    expect(help).toContain("A test service.");
    expect(help).toContain("--listen <host:port> API address [env TEI_FLEET_LISTEN, default 0.0.0.0:9000]");
    expect(help).toContain("--control-plane <url> control plane [env TEI_FLEET_CONTROL_PLANE, required]");
    expect(help).toContain("--label <k=v> node label (repeatable) [env TEI_FLEET_LABELS, comma-separated]");
    expect(help).not.toContain("--join-token");
    expect(out).toContain("Environment only:\n  TEI_FLEET_JOIN_TOKEN    join token\n  TEI_FLEET_RETENTION_MS  retention\n");
    expect(help).toContain("Flags win over their environment twins; a bad setting exits 2 naming it.");
    expect(help).toContain("See the README.");
  });
});
