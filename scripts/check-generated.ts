/**
 * Fails when proto/src/gen is not what `buf generate` makes from proto/ right now, so a proto
 * change without regenerated code cannot land. Generates into a temporary directory and compares
 * file by file.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const committed = join(root, "proto/src/gen");
const scratch = mkdtempSync(join(tmpdir(), "tei-fleet-gen-"));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

try {
  execFileSync("pnpm", ["exec", "buf", "generate", "--output", scratch], { cwd: root, stdio: "inherit" });
  const fresh = join(scratch, "proto/src/gen");
  const want = new Map(files(fresh).map((f) => [relative(fresh, f), readFileSync(f, "utf8")]));
  const have = new Map(files(committed).map((f) => [relative(committed, f), readFileSync(f, "utf8")]));
  const stale = [...new Set([...want.keys(), ...have.keys()])].filter((f) => want.get(f) !== have.get(f));
  if (stale.length > 0) {
    console.error(`generated code is stale; run \`pnpm gen\` and commit:\n  ${stale.join("\n  ")}`);
    process.exit(1);
  }
  console.log(`generated code is up to date (${want.size} files)`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
