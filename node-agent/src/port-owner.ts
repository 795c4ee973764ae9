import { readdir, readFile, readlink } from "node:fs/promises";

/**
 * Who listens on a TCP port, from /proc (Linux). Used when a port TEI needs is taken: either a TEI
 * process this node started and lost track of (the agent died between starting it and recording
 * it, or the state dir was lost) — which the supervisor then adopts — or another program, which
 * the status names.
 */

/** A process listening on a port. */
export interface PortOwner {
  pid: number;
  /** argv as in /proc/<pid>/cmdline. */
  argv: string[];
}

/** Socket inodes listening on `port` (any address), from /proc/net/tcp and tcp6. */
export async function listeningInodes(port: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = await readFile(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is "ADDR:PORT"; st 0A is LISTEN; the inode is column 10.
      if (cols.length > 9 && cols[1]?.endsWith(`:${hexPort}`) && cols[3] === "0A" && cols[9]) inodes.add(cols[9]);
    }
  }
  return inodes;
}

/**
 * The process listening on `port`, when it can be seen (processes of other users are invisible
 * without root). `undefined` when nobody listens or the owner cannot be found.
 */
export async function findPortOwner(port: number): Promise<PortOwner | undefined> {
  const inodes = await listeningInodes(port);
  if (inodes.size === 0) return undefined;
  const wanted = new Set([...inodes].map((i) => `socket:[${i}]`));
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = await readdir(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = await readlink(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!wanted.has(target)) continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
      return { pid: Number(entry), argv: cmdline.split("\0").filter((a, i, all) => a !== "" || i < all.length - 1) };
    }
  }
  return undefined;
}

/**
 * True when `argv` runs `command` with exactly `args`: directly (argv[0] is the binary) or through
 * an interpreter named on its shebang line (argv is `interpreter [flags] command args...`).
 */
export function runsCommand(argv: readonly string[], command: string, args: readonly string[]): boolean {
  const at = argv.indexOf(command);
  if (at === -1) return false;
  const rest = argv.slice(at + 1);
  return rest.length === args.length && rest.every((a, i) => a === args[i]);
}
