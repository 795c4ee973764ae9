/**
 * After the test suite: finds the processes it left behind and stops them. Tests start their own
 * redis-server, fake TEIs and services, and must stop every one; a test killed half-way, or a
 * teardown that missed one, leaves an orphan that holds a port and memory on the next run.
 *
 * A leftover is a process started since `--since` (epoch seconds, when the suite began) that is
 * this checkout's: a node process running a file under this directory, or an orphaned
 * redis-server the harness started (its working directory under the temporary directory's
 * `tei-fleet-redis-*`, its parent gone: a concurrent run's has its vitest parent still).
 * Processes of other checkouts or earlier runs are left alone. Each leftover is named, then sent
 * SIGKILL. Exits 0 either way: the leak is reported, not a reason to fail a green suite.
 *
 *   node scripts/check-leftovers.ts --since <epoch seconds>
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { since: { type: "string" } } });
const since = Number(values.since ?? 0);
const root = resolve(import.meta.dirname, "..");
const redisDirs = join(tmpdir(), "tei-fleet-redis-");
/** Clock ticks per second of /proc/<pid>/stat's start time (USER_HZ, 100 on Linux). */
const TICKS = 100;

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** Epoch seconds at which the machine booted. */
const bootTime = Number(/^btime (\d+)$/m.exec(read("/proc/stat") ?? "")?.[1] ?? 0);

interface Leftover {
  pid: number;
  command: string;
}

const leftovers: Leftover[] = [];
for (const entry of readdirSync("/proc")) {
  const pid = Number(entry);
  if (!Number.isInteger(pid) || pid === process.pid || pid === process.ppid) continue;
  const stat = read(`/proc/${pid}/stat`);
  const cmdline = read(`/proc/${pid}/cmdline`);
  if (stat === null || cmdline === null) continue;
  // Fields after the command's closing parenthesis: state is field 3, starttime field 22.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const startedAt = bootTime + Number(fields[19]) / TICKS;
  if (startedAt < since) continue;
  const args = cmdline.split("\0").filter(Boolean);
  let cwd = "";
  try {
    cwd = readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    continue;
  }
  // A redis-server whose parent is gone (an orphan: another run's live one has its vitest parent).
  const orphan = fields[1] === "1";
  // redis-server rewrites its title ("redis-server 127.0.0.1:6379"); scripts may be named relative to the cwd.
  const redis = /(^|\/)redis-server( |$)/.test(args[0] ?? "");
  const inCheckout = (a: string) => {
    if (a.startsWith("-") || a.includes("/node_modules/")) return false;
    const path = resolve(cwd, a);
    return path.startsWith(`${root}/`) && existsSync(path);
  };
  const ours = (redis && cwd.startsWith(redisDirs) && orphan) || (/(^|\/)node$/.test(args[0] ?? "") && args.slice(1).some(inCheckout));
  if (ours) leftovers.push({ pid, command: args.join(" ").slice(0, 200) });
}

if (leftovers.length === 0) {
  console.log("no processes left behind");
} else {
  console.log(`${leftovers.length} process(es) left behind by the tests, now killed:`);
  for (const l of leftovers) {
    console.log(`  ${l.pid}  ${l.command}`);
    try {
      process.kill(l.pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}
