import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";

const root = new URL("../..", import.meta.url).pathname;

function run(command: string, args: string[]): { code: number; output: string } {
  try {
    const output = execFileSync(command, args, { cwd: root, encoding: "utf8", stdio: "pipe" });
    return { code: 0, output };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, output: `${e.stdout}${e.stderr}` };
  }
}

describe("protobuf sources", () => {
  it("pass buf lint (STANDARD rules; TEI's and tei-manager's own files are exempt)", () => {
    const { code, output } = run("pnpm", ["exec", "buf", "lint"]);
    expect(output).toBe("");
    expect(code).toBe(0);
  });

  it("match the committed generated code", () => {
    const { code, output } = run("node", ["scripts/check-generated.ts"]);
    expect(output).toContain("up to date");
    expect(code).toBe(0);
  });
});
