/**
 * CPU time of a process (user + system) from /proc, so the benchmark can report what each proxy
 * costs per request independently of how busy the rest of the machine is.
 */
import { readFileSync, readdirSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat (CLK_TCK, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU seconds used so far by `pid` (0 when it cannot be read, e.g. not Linux). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** The pids of the direct children of `pid` (nginx's worker under its master). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
      if (kids !== "") out.push(...kids.split(" ").map(Number));
    }
  } catch {
    // not Linux: no CPU figures
  }
  return out;
}
