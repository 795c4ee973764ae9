/**
 * CPU time of a process (user + system) from /proc, so the benchmark can report what each proxy
 * costs per request independently of how busy the rest of the machine is.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat (CLK_TCK, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU time of a process so far, in seconds, as /proc/<pid>/stat counts it (utime, stime). */
export interface CpuTimes {
  /** In the process's own code (for Node: JavaScript, V8, libuv). */
  user: number;
  /** In the kernel on its behalf (system calls: reads, writes, epoll; page faults). */
  system: number;
}

/** CPU time used so far by `pid`, split (zeros when it cannot be read, e.g. not Linux). */
export function cpuTimes(pid: number): CpuTimes {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(fields[11]) / TICKS_PER_SECOND, system: Number(fields[12]) / TICKS_PER_SECOND };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** CPU seconds used so far by `pid`, user + system (0 when it cannot be read). */
export function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.system;
}

/**
 * Resident memory of `pid` in MiB from /proc/<pid>/status: now (VmRSS) and at its peak (VmHWM);
 * zeros when it cannot be read.
 */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
    return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
  } catch {
    return { rss: 0, peak: 0 };
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
